"""The app as served in production plus one bare endpoint, so the intake benchmark compares like with like."""
from bx_app import create_app

app = create_app()


@app.get("/bench/bare")
def bare():
    return "ok", 200
