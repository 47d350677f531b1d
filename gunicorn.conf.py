"""gunicorn settings for production and ./scripts/run: an access log that carries no secret.

gunicorn reads this file from the working directory (`gunicorn wsgi:app`). The access log has the path
without its query string (`_s`, `auth`, `code` live there) and no Referer; the hook and claim paths,
which are credentials themselves, are masked by the log-record redaction installed here.
"""
from bx_app.log_redaction import install as install_log_redaction

install_log_redaction()

accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
