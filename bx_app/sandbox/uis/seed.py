"""Seed data of the UIS sandbox, copied from the reference fixtures (account 1103425)."""

ACCOUNT = {'app_id': 1103425, 'name': 'ООО «Пример»', 'timezone': 'Europe/Moscow'}

EMPLOYEES = [{'id': 45012,
  'login': 'ivanov',
  'first_name': 'Иван',
  'last_name': 'Иванов',
  'patronymic': 'Иванович',
  'full_name': 'Иванов Иван Иванович',
  'email': 'ivanov@example.ru',
  'status': 'available',
  'status_id': 1,
  'calls_available': True,
  'allowed_in_call_types': ['internal', 'external'],
  'in_external_allowed_call_directions': ['in', 'out'],
  'in_internal_allowed_call_directions': ['in', 'out'],
  'allowed_out_call_types': ['internal', 'external'],
  'out_external_allowed_call_directions': ['in', 'out'],
  'out_internal_allowed_call_directions': ['in', 'out'],
  'groups': [{'group_id': 801, 'group_name': 'Отдел продаж'}],
  'call_recording': 'all',
  'schedule_id': None,
  'schedule_name': None,
  'coach': {'coach_id': None, 'coach_full_name': None, 'coach_always_enabled': False},
  'phone_numbers': [{'phone_id': 610001,
                     'phone_number': '79161234567',
                     'channels_count': 1,
                     'dial_time': 30,
                     'status': 'active'}],
  'extension': {'extension_phone_number': '101',
                'extension_voice_mail_enabled': False,
                'extension_queue_enabled': False},
  'operator': {'operator_login': 'ivanov',
               'operator_display_name': 'Иван',
               'operator_position_id': None,
               'operator_position_name': None,
               'operator_offline_message_enabled': True,
               'operator_invite_to_chat_enabled': True,
               'operator_chat_enabled': True,
               'operator_chats_available': True,
               'operator_sites': [{'site_id': 7301, 'site_domain_name': 'shop.example.ru'}]}},
 {'id': 45013,
  'login': 'petrova',
  'first_name': 'Мария',
  'last_name': 'Петрова',
  'patronymic': 'Сергеевна',
  'full_name': 'Петрова Мария Сергеевна',
  'email': 'petrova@example.ru',
  'status': 'break',
  'status_id': 2,
  'calls_available': True,
  'allowed_in_call_types': ['internal', 'external'],
  'in_external_allowed_call_directions': ['in', 'out'],
  'in_internal_allowed_call_directions': ['in', 'out'],
  'allowed_out_call_types': ['internal', 'external'],
  'out_external_allowed_call_directions': ['in', 'out'],
  'out_internal_allowed_call_directions': ['in', 'out'],
  'groups': [{'group_id': 801, 'group_name': 'Отдел продаж'}],
  'call_recording': 'in',
  'schedule_id': 3901,
  'schedule_name': 'Будни 9-18',
  'coach': {'coach_id': 45012, 'coach_full_name': 'Иванов Иван Иванович', 'coach_always_enabled': False},
  'phone_numbers': [{'phone_id': 610002,
                     'phone_number': '79031112233',
                     'channels_count': 1,
                     'dial_time': 60,
                     'status': 'active'}],
  'extension': {'extension_phone_number': '102',
                'extension_voice_mail_enabled': True,
                'extension_queue_enabled': False},
  'operator': {'operator_login': 'petrova',
               'operator_display_name': 'Мария',
               'operator_position_id': 12,
               'operator_position_name': 'Менеджер',
               'operator_offline_message_enabled': True,
               'operator_invite_to_chat_enabled': False,
               'operator_chat_enabled': True,
               'operator_chats_available': False,
               'operator_sites': [{'site_id': 7301, 'site_domain_name': 'shop.example.ru'},
                                  {'site_id': 7302, 'site_domain_name': 'example.ru'}]}},
 {'id': 45014,
  'login': 'sidorov',
  'first_name': 'Алексей',
  'last_name': 'Сидоров',
  'patronymic': None,
  'full_name': 'Сидоров Алексей',
  'email': None,
  'status': 'unknown',
  'status_id': None,
  'calls_available': False,
  'allowed_in_call_types': [],
  'in_external_allowed_call_directions': [],
  'in_internal_allowed_call_directions': [],
  'allowed_out_call_types': [],
  'out_external_allowed_call_directions': [],
  'out_internal_allowed_call_directions': [],
  'groups': [],
  'call_recording': 'off',
  'schedule_id': None,
  'schedule_name': None,
  'coach': {'coach_id': None, 'coach_full_name': None, 'coach_always_enabled': False},
  'phone_numbers': [],
  'extension': {'extension_phone_number': None,
                'extension_voice_mail_enabled': False,
                'extension_queue_enabled': False},
  'operator': {'operator_login': 'sidorov',
               'operator_display_name': 'Алексей',
               'operator_position_id': None,
               'operator_position_name': None,
               'operator_offline_message_enabled': True,
               'operator_invite_to_chat_enabled': False,
               'operator_chat_enabled': True,
               'operator_chats_available': True,
               'operator_sites': [{'site_id': 7301, 'site_domain_name': 'shop.example.ru'}]}},
 {'id': 45015,
  'login': 'kuznetsov',
  'first_name': 'Дмитрий',
  'last_name': 'Кузнецов',
  'patronymic': None,
  'full_name': 'Кузнецов Дмитрий',
  'email': None,
  'status': 'available',
  'status_id': None,
  'calls_available': True,
  'allowed_in_call_types': [],
  'in_external_allowed_call_directions': [],
  'in_internal_allowed_call_directions': [],
  'allowed_out_call_types': [],
  'out_external_allowed_call_directions': [],
  'out_internal_allowed_call_directions': [],
  'groups': [],
  'call_recording': 'off',
  'schedule_id': None,
  'schedule_name': None,
  'coach': {'coach_id': None, 'coach_full_name': None, 'coach_always_enabled': False},
  'phone_numbers': [],
  'extension': {'extension_phone_number': None,
                'extension_voice_mail_enabled': False,
                'extension_queue_enabled': False},
  'operator': {'operator_login': 'kuznetsov',
               'operator_display_name': 'Дмитрий',
               'operator_position_id': None,
               'operator_position_name': None,
               'operator_offline_message_enabled': True,
               'operator_invite_to_chat_enabled': False,
               'operator_chat_enabled': True,
               'operator_chats_available': True,
               'operator_sites': [{'site_id': 7301, 'site_domain_name': 'shop.example.ru'}]}}]

SITES = [{'id': 7301,
  'domain_name': 'shop.example.ru',
  'name': 'Интернет-магазин',
  'default_phone_number': '74951234567',
  'default_scenario': {'scenario_id': 55101, 'scenario_name': 'Входящие — отдел продаж'},
  'site_key': 'cs7301abcdef',
  'industry_id': 14,
  'industry_name': 'Розничная торговля',
  'creation_date': '2023-03-15 10:20:00',
  'target_call_min_duration': 30,
  'track_subdomains': True,
  'cookie_lifetime': 90,
  'campaign_lifetime': 90,
  'sales_enabled': False,
  'second_communication_period': 1,
  'services_enabled': True,
  'replacement_dynamical_block_enabled': False,
  'widget_link': {'enabled': False, 'text': None, 'url': None},
  'show_visitor_id': {'enabled': False, 'element_id_value': None, 'message': None, 'length_visitor_id': 6},
  'site_blocks': [{'site_block_id': 9101, 'site_block_name': 'Шапка сайта'}],
  'connected_integrations': ['yandex.metrika']},
 {'id': 7302,
  'domain_name': 'example.ru',
  'name': 'Корпоративный сайт',
  'default_phone_number': '74951234568',
  'default_scenario': {'scenario_id': 55101, 'scenario_name': 'Входящие — отдел продаж'},
  'site_key': 'cs7302fedcba',
  'industry_id': 14,
  'industry_name': 'Розничная торговля',
  'creation_date': '2021-06-01 09:00:00',
  'target_call_min_duration': 30,
  'track_subdomains': True,
  'cookie_lifetime': 90,
  'campaign_lifetime': 90,
  'sales_enabled': False,
  'second_communication_period': 7,
  'services_enabled': True,
  'replacement_dynamical_block_enabled': False,
  'widget_link': {'enabled': False, 'text': None, 'url': None},
  'show_visitor_id': {'enabled': False, 'element_id_value': None, 'message': None, 'length_visitor_id': 6},
  'site_blocks': [{'site_block_id': 9102, 'site_block_name': 'Основной блок'}],
  'connected_integrations': []}]

CHAT_CHANNELS = [{'id': 3101,
  'name': 'Онлайн-чат shop.example.ru',
  'type': 'comagic',
  'status': 'active',
  'group_id': 801,
  'group_name': 'Отдел продаж',
  'employee_id': None,
  'employee_full_name': None,
  'channel_external_id': None},
 {'id': 3102,
  'name': 'WhatsApp отдела продаж',
  'type': 'whatsapp',
  'status': 'active',
  'group_id': 801,
  'group_name': 'Отдел продаж',
  'employee_id': None,
  'employee_full_name': None,
  'channel_external_id': '79001234567'},
 {'id': 3103,
  'name': 'Telegram-бот магазина',
  'type': 'telegram',
  'status': 'active',
  'group_id': None,
  'group_name': None,
  'employee_id': 45014,
  'employee_full_name': 'Сидоров Алексей',
  'channel_external_id': 'example_shop_bot'},
 {'id': 3104,
  'name': 'Авито: Магазин Пример',
  'type': 'avito',
  'status': 'error',
  'group_id': None,
  'group_name': None,
  'employee_id': None,
  'employee_full_name': None,
  'channel_external_id': None}]

CHATS = [{'id': 880011223,
  'status': 'succeed',
  'initiator': 'visitor',
  'date_time': '2025-11-20 14:05:12',
  'duration': '412',
  'answer_time': 18,
  'communication_id': 1200000101,
  'communication_number': 1,
  'chat_channel_id': 3101,
  'chat_channel_type': 'comagic',
  'chat_channel_name': 'Онлайн-чат shop.example.ru',
  'chat_user_id': None,
  'chat_username': None,
  'messages_count': 6,
  'is_transfer': False,
  'release_cause': 'closed_by_operator',
  'employee_id': 45012,
  'employee_full_name': 'Иванов Иван Иванович',
  'site_id': 7301,
  'site_domain_name': 'shop.example.ru',
  'campaign_id': 90211,
  'campaign_name': 'Яндекс Директ — поиск',
  'visitor_id': 5123456701,
  'visitor_phone_number': '79161112233',
  'person_id': 33445501,
  # From notification_chat_finished.json (same chat): what the report row knows beyond its default fields.
  'visitor_session_id': 77001111,
  'search_engine': 'Яндекс',
  'search_query': 'купить диван',
  'ua_client_id': None,
  'visitor_type': 'Новый',
  'visitor_city': 'Москва',
  'visitor_region': 'Москва',
  'visitor_country': 'Россия',
  'communication_page_url': 'https://shop.example.ru/catalog/divany/',
  'utm_source': 'yandex',
  'utm_medium': 'cpc',
  'utm_campaign': 'divany_moskva',
  'utm_term': 'купить диван',
  'utm_content': 'ad_17',
  'tags': [{'tag_id': 501,
            'tag_name': 'Целевой',
            'tag_type': 'manual',
            'tag_change_time': '2025-11-20 14:13:40',
            'tag_user_id': None,
            'tag_user_login': None,
            'tag_employee_id': 45012,
            'tag_employee_full_name': 'Иванов Иван Иванович'}]},
 {'id': 880011224,
  'status': 'active',
  'initiator': 'chat_channel',
  'date_time': '2025-11-20 15:30:45',
  'duration': '95',
  'answer_time': 40,
  'communication_id': 1200000102,
  'communication_number': 3,
  'chat_channel_id': 3102,
  'chat_channel_type': 'whatsapp',
  'chat_channel_name': 'WhatsApp отдела продаж',
  'chat_user_id': '79264445566',
  'chat_username': None,
  'messages_count': 3,
  'is_transfer': False,
  'release_cause': None,
  'employee_id': 45013,
  'employee_full_name': 'Петрова Мария Сергеевна',
  'site_id': None,
  'site_domain_name': None,
  'campaign_id': None,
  'campaign_name': None,
  'visitor_id': 5123456702,
  'visitor_phone_number': '79264445566',
  'person_id': 33445502,
  'visitor_type': 'Вернувшийся',
  'visitor_city': None,
  'visitor_region': None,
  'visitor_country': None,
  'communication_page_url': None,
  'utm_source': None,
  'utm_medium': None,
  'utm_campaign': None,
  'utm_term': None,
  'utm_content': None,
  'tags': []},
 {'id': 880011225,
  'status': 'lost',
  'initiator': 'visitor',
  'date_time': '2025-11-20 22:41:03',
  'duration': '600',
  'answer_time': None,
  'communication_id': 1200000103,
  'communication_number': 1,
  'chat_channel_id': 3103,
  'chat_channel_type': 'telegram',
  'chat_channel_name': 'Telegram-бот магазина',
  'chat_user_id': '612345789',
  'chat_username': 'anna_k',
  'messages_count': 1,
  'is_transfer': False,
  'release_cause': 'closed_by_timeout',
  'employee_id': None,
  'employee_full_name': None,
  'site_id': None,
  'site_domain_name': None,
  'campaign_id': None,
  'campaign_name': None,
  'visitor_id': 5123456703,
  'visitor_phone_number': None,
  'person_id': 33445503,
  'visitor_type': 'Новый',
  'visitor_city': None,
  'visitor_region': None,
  'visitor_country': None,
  'communication_page_url': None,
  'utm_source': None,
  'utm_medium': None,
  'utm_campaign': None,
  'utm_term': None,
  'utm_content': None,
  'tags': []}]

CHAT_MESSAGES = [{'id': 990000001,
  'chat_id': 880011223,
  'date_time': '2025-11-20 14:05:12',
  'is_group_chat': False,
  'visitor_id': 5123456701,
  'text': 'Здравствуйте! Подскажите, есть ли диван «Честер» в наличии?',
  'source': 'visitor',
  'resource': None,
  'employee_id': None,
  'employee_full_name': None},
 {'id': 990000002,
  'chat_id': 880011223,
  'date_time': '2025-11-20 14:05:13',
  'is_group_chat': False,
  'visitor_id': 5123456701,
  'text': 'Оператор подключится в течение минуты.',
  'source': 'system',
  'resource': None,
  'employee_id': None,
  'employee_full_name': None},
 {'id': 990000003,
  'chat_id': 880011223,
  'date_time': '2025-11-20 14:05:30',
  'is_group_chat': False,
  'visitor_id': 5123456701,
  'text': 'Добрый день! Да, в наличии два цвета. Оставьте, пожалуйста, номер телефона — менеджер перезвонит.',
  'source': 'operator',
  'resource': None,
  'employee_id': 45012,
  'employee_full_name': 'Иванов Иван Иванович'},
 {'id': 990000004,
  'chat_id': 880011223,
  'date_time': '2025-11-20 14:06:02',
  'is_group_chat': False,
  'visitor_id': 5123456701,
  'text': '+7 916 111-22-33, Анна',
  'source': 'visitor',
  'resource': None,
  'employee_id': None,
  'employee_full_name': None},
 {'id': 990000005,
  'chat_id': 880011223,
  'date_time': '2025-11-20 14:06:40',
  'is_group_chat': False,
  'visitor_id': 5123456701,
  'text': '',
  'source': 'operator',
  'resource': {'size': 184233,
               'type': 'photo',
               'file_url': 'https://app.uiscom.ru/chat/resource/example/chester.jpg',
               'file_name': 'chester.jpg',
               'mime_type': 'image/jpeg'},
  'employee_id': 45012,
  'employee_full_name': 'Иванов Иван Иванович'},
 {'id': 990000006,
  'chat_id': 880011223,
  'date_time': '2025-11-20 14:11:44',
  'is_group_chat': False,
  'visitor_id': 5123456701,
  'text': 'Спасибо, жду звонка.',
  'source': 'visitor',
  'resource': None,
  'employee_id': None,
  'employee_full_name': None}]

OFFLINE_MESSAGES = [{'id': 660012345,
  'date_time': '2025-11-20 09:14:27',
  'text': 'Хочу заказать доставку дивана «Честер» на субботу. Перезвоните, пожалуйста.',
  'communication_id': 1200000201,
  'communication_number': 1,
  'communication_page_url': 'https://shop.example.ru/catalog/divany/chester/',
  'status': 'not_processed',
  'process_time': None,
  'form_type': 'Стандартная',
  'form_name': None,
  'employee_id': None,
  'employee_full_name': None,
  'employee_comment': None,
  'site_id': 7301,
  'site_domain_name': 'shop.example.ru',
  'campaign_id': 90211,
  'campaign_name': 'Яндекс Директ — поиск',
  'visitor_id': 5123456704,
  'visitor_name': 'Сергей',
  'visitor_phone_number': '79167778899',
  'visitor_email': 'sergey@example.com',
  'visitor_session_id': 77001234,
  'search_engine': 'Яндекс',  # from notification_offline_message.json (same request)
  'search_query': None,
  'is_agree_to_process_personal_data': True,
  'is_agree_to_mailing': False,
  'properties': None,
  'utm_source': 'yandex',
  'utm_medium': 'cpc',
  'utm_campaign': 'divany_moskva',
  'tags': []},
 {'id': 660012346,
  'date_time': '2025-11-20 11:02:10',
  'text': 'Нужен счёт для юрлица на 3 кресла.',
  'communication_id': 1200000202,
  'communication_number': 2,
  'communication_page_url': 'https://example.ru/contacts/',
  'status': 'processed',
  'process_time': '2025-11-20 11:40:55',
  'form_type': 'Пользовательская',
  'form_name': 'Заявка с контактов',
  'employee_id': 45013,
  'employee_full_name': 'Петрова Мария Сергеевна',
  'employee_comment': 'Счёт выставлен, отправлен на почту',
  'site_id': 7302,
  'site_domain_name': 'example.ru',
  'campaign_id': 90212,
  'campaign_name': 'Органический поиск',
  'visitor_id': 5123456705,
  'visitor_name': 'Ольга Смирнова',
  'visitor_phone_number': None,
  'visitor_email': 'o.smirnova@example.org',
  'visitor_session_id': 77001299,
  'is_agree_to_process_personal_data': True,
  'is_agree_to_mailing': True,
  'properties': None,
  'utm_source': None,
  'utm_medium': None,
  'utm_campaign': None,
  'tags': [{'tag_id': 502,
            'tag_name': 'Юрлицо',
            'tag_type': 'manual',
            'tag_change_time': '2025-11-20 11:40:50',
            'tag_user_id': None,
            'tag_user_login': None,
            'tag_employee_id': 45013,
            'tag_employee_full_name': 'Петрова Мария Сергеевна'}]}]

CALLS = [{'id': 3100012345,
  'start_time': '2025-11-20 12:01:05',
  'finish_time': '2025-11-20 12:05:47',
  'finish_reason': 'subscriber_disconnects',
  'direction': 'in',
  'is_lost': False,
  'contact_phone_number': '79161112233',
  'virtual_phone_number': '74951234567',
  'communication_id': 3100012345,
  'communication_type': 'call',
  'communication_number': 2,
  'wait_duration': 12,
  'talk_duration': 270,
  'total_duration': 282,
  'call_records': ['a1b2c3d4e5f6a7b8'],
  'full_record_file_link': 'https://media.uiscom.ru/3100012345/a1b2c3d4e5f6a7b8',
  'scenario_id': 55101,
  'scenario_name': 'Входящие — отдел продаж',
  'site_id': 7301,
  'site_domain_name': 'shop.example.ru',
  'campaign_id': 90211,
  'campaign_name': 'Яндекс Директ — поиск',
  'visitor_id': 5123456701,
  'employees': [{'employee_id': 45013,
                 'employee_full_name': 'Петрова Мария Сергеевна',
                 'is_answered': False,
                 'is_talked': False},
                {'employee_id': 45012,
                 'employee_full_name': 'Иванов Иван Иванович',
                 'is_answered': True,
                 'is_talked': True}],
  'last_answered_employee_id': 45012,
  'last_answered_employee_full_name': 'Иванов Иван Иванович',
  'tags': [],
  'utm_source': 'yandex',
  'utm_medium': 'cpc',
  'utm_campaign': 'divany_moskva'},
 {'id': 3100012346,
  'start_time': '2025-11-20 19:22:40',
  'finish_time': '2025-11-20 19:23:31',
  'finish_reason': 'subscriber_disconnects',
  'direction': 'in',
  'is_lost': True,
  'contact_phone_number': '79035556677',
  'virtual_phone_number': '74951234567',
  'communication_id': 3100012346,
  'communication_type': 'call',
  'communication_number': 1,
  'wait_duration': 51,
  'talk_duration': 0,
  'total_duration': 51,
  'call_records': [],
  'full_record_file_link': None,
  'scenario_id': 55101,
  'scenario_name': 'Входящие — отдел продаж',
  'site_id': None,
  'site_domain_name': None,
  'campaign_id': None,
  'campaign_name': None,
  'visitor_id': None,
  'employees': [{'employee_id': 45012,
                 'employee_full_name': 'Иванов Иван Иванович',
                 'is_answered': False,
                 'is_talked': False},
                {'employee_id': 45013,
                 'employee_full_name': 'Петрова Мария Сергеевна',
                 'is_answered': False,
                 'is_talked': False}],
  'last_answered_employee_id': None,
  'last_answered_employee_full_name': None,
  'tags': [],
  'utm_source': None,
  'utm_medium': None,
  'utm_campaign': None}]

VISITORS = [{'id': 5123456701, 'name': 'Анна', 'emails': [], 'phones': ['79161112233'], 'usernames': []},
 {'id': 5123456703, 'name': None, 'emails': [], 'phones': [], 'usernames': ['anna_k']}]

SCENARIOS = [{'id': 55101,
  'name': 'Входящие — отдел продаж',
  'virtual_phone_numbers': ['74951234567'],
  'sites': [7301, 7302],
  'campaigns': [90211]}]

VIRTUAL_NUMBERS = [{'id': 4401,
  'child_customer_id': None,
  'virtual_phone_number': '74951234567',
  'redirection_phone_number': None,
  'activation_date': '2023-03-15 10:25:00',
  'status': 'active',
  'category': 'usual',
  'type': 'va',
  'comment': None,
  'name': 'Основной номер',
  'campaigns': [{'campaign_id': 90211,
                 'campaign_name': 'Яндекс Директ — поиск',
                 'site_id': 7301,
                 'site_domain_name': 'shop.example.ru',
                 'site_blocks': [{'site_block_id': 9101, 'site_block_name': 'Шапка сайта', 'is_tracking': True}]}],
  'scenarios': [{'scenario_id': 55101,
                 'scenario_name': 'Входящие — отдел продаж',
                 'call_processing_rule_id': 120001,
                 'is_active': True}]}]

# The cabinet's event directory (mnemonic → name shown in the cabinet), from the directory fixture.
NOTIFICATION_EVENTS = {'call_session_finished': 'Завершение звонка',
 'call_connected': 'Поднятие трубки',
 'call_disconnected': 'Завершение плеча',
 'call_proceeding': 'Ожидание ответа',
 'offline_message': 'Офлайн заявка',
 'chat_finished': 'Завершение чата',
 'lost_chat': 'Потеряный чат',
 'fax_receive_finished': 'Принятый факс',
 'in_call_session': 'Входящий звонок на виртуальный номер',
 'lost_call_session': 'Потерянный звонок',
 'out_call_session': 'Исходящий звонок',
 'set_mark': 'Проставление тега',
 'talk_finished': 'Окончание разговора',
 'talk_started': 'Начало разговора',
 'voice_message': 'Голосовое сообщение',
 'in_call': 'Входящее плечо',
 'out_call': 'Исходящее плечо',
 'talk_record_file': 'Записанный разговор',
 'event': 'Событие',
 'call_hold_control': 'Удержание вызова',
 'talk_record_control': 'Управление записью разговора',
 'unset_mark': 'Снятие тега',
 'sip_line_unregister': 'Потеря регистрации SIP-линии'}

# The default HTTP templates the cabinet proposes per event and method (POST body / GET query string),
# verbatim from the directory fixture, including its slips (a missing '&' in call_session_finished GET).
UIS_DEFAULT_TEMPLATES = {'in_call_session': {'POST': '{  \n'
                             '  "notification_name":{{notification_name}},\n'
                             '  "virtual_phone_number":{{virtual_phone_number}},\n'
                             '  "notification_time":{{notification_time}},\n'
                             '  "scenario_name": {{scenario_name}},\n'
                             '  "contact_info":{  \n'
                             '    "contact_phone_number":{{contact_phone_number}},\n'
                             '    "communication_number":{{communication_number}},\n'
                             '    "contact_id": {{contact_id}},\n'
                             '    "contact_full_name": {{contact_full_name}}\n'
                             '  },\n'
                             '  "call_session_id":{{call_session_id}}\n'
                             '}',
                     'GET': 'notification_name={{notification_name}}&virtual_phone_number={{virtual_phone_number}}&notification_time={{notification_time}}&scenario_name={{scenario_name}}&contact_phone_number={{contact_phone_number}}&communication_number={{communication_number}}&contact_id={{contact_id}}&contact_full_name={{contact_full_name}}&call_session_id={{call_session_id}}'},
 'out_call_session': {'GET': 'notification_name={{notification_name}}&virtual_phone_number={{virtual_phone_number}}&notification_time={{notification_time}}&contact_phone_number={{contact_phone_number}}&contact_id={{contact_id}}&contact_full_name={{contact_full_name}}&call_session_id={{call_session_id}}&employee_full_name={{employee_full_name}}&employee_id={{employee_id}}&employee_phone_number={{employee_phone_number}}',
                      'POST': '{\n'
                              '  "notification_name": {{notification_name}},\n'
                              '  "virtual_phone_number": {{virtual_phone_number}},\n'
                              '  "notification_time": {{notification_time}},\n'
                              '  "contact_info":{\n'
                              '    "contact_phone_number":{{contact_phone_number}},\n'
                              '    "contact_id":{{contact_id}},\n'
                              '    "contact_full_name":{{contact_full_name}}\n'
                              '  },\n'
                              '  "call_session_id":{{call_session_id}},\n'
                              '  "employee_info":{\n'
                              '    "employee_full_name":{{employee_full_name}},\n'
                              '    "employee_id":{{employee_id}},\n'
                              '    "employee_phone_number":{{employee_phone_number}}\n'
                              '  }\n'
                              '}'},
 'call_session_finished': {'POST': '{\n'
                                   '  "notification_name":{{notification_name}},\n'
                                   '  "virtual_phone_number":{{virtual_phone_number}},\n'
                                   '  "notification_time":{{notification_time}},\n'
                                   '  "external_id": {{external_id}},\n'
                                   '  "contact_info":{\n'
                                   '    "contact_phone_number":{{contact_phone_number}},\n'
                                   '    "communication_number":{{communication_number}}\n'
                                   '  },\n'
                                   '  "employee_info": {\n'
                                   '    "employee_full_name": {{employee_full_name}},\n'
                                   '    "employee_id": {{employee_id}}\n'
                                   '  },\n'
                                   '  "call_info": {\n'
                                   '    "call_source": {{call_source}},\n'
                                   '    "direction": {{direction}},\n'
                                   '    "call_session_id":{{call_session_id}},\n'
                                   '    "scenario_name": {{scenario_name}},\n'
                                   '    "talk_time_duration": {{talk_time_duration}},\n'
                                   '    "total_time_duration": {{total_time_duration}},\n'
                                   '    "wait_time_duration": {{wait_time_duration}},\n'
                                   '    "tag_names": {{tag_names}}\n'
                                   '  }\n'
                                   '}',
                           'GET': 'notification_name={{notification_name}}&virtual_phone_number={{virtual_phone_number}}&notification_time={{notification_time}}&external_id={{external_id}}&contact_phone_number={{contact_phone_number}}&contact_phone_number={{contact_phone_number}}&communication_number={{communication_number}}employee_full_name={{employee_full_name}}&employee_id={{employee_id}}&call_source={{call_source}}&call_session_id={{call_session_id}}&direction={{direction}}&scenario_name={{scenario_name}}&talk_time_duration={{talk_time_duration}}&total_time_duration={{total_time_duration}}&wait_time_duration={{wait_time_duration}}'},
 'lost_call_session': {'GET': 'notification_name={{notification_name}}&virtual_phone_number={{virtual_phone_number}}&notification_time={{notification_time}}&scenario_name={{scenario_name}}&contact_phone_number={{contact_phone_number}}&communication_number={{communication_number}}&contact_id={{contact_id}}&contact_full_name={{contact_full_name}}&call_session_id={{call_session_id}}&wait_time_duration={{wait_time_duration}}&employee_ids={{employee_ids}}',
                       'POST': '{  \n'
                               '  "notification_name":{{notification_name}},\n'
                               '  "virtual_phone_number":{{virtual_phone_number}},\n'
                               '  "notification_time":{{notification_time}},\n'
                               '  "scenario_name": {{scenario_name}},\n'
                               '  "wait_time_duration" : {{wait_time_duration}},\n'
                               '  "employee_ids":{{employee_ids}},\n'
                               '  "contact_info":{  \n'
                               '    "contact_phone_number":{{contact_phone_number}},\n'
                               '    "communication_number":{{communication_number}},\n'
                               '    "contact_id": {{contact_id}},\n'
                               '    "contact_full_name":{{contact_full_name}}\n'
                               '  },\n'
                               '  "call_session_id":{{call_session_id}}\n'
                               '}'},
 'talk_record_file': {'GET': 'notification_name={{notification_name}}&virtual_phone_number={{virtual_phone_number}}&notification_time={{notification_time}}&scenario_name={{scenario_name}}&contact_phone_number={{contact_phone_number}}&communication_number={{communication_number}}&contact_id={{contact_id}}&contact_full_name={{contact_full_name}}&call_session_id={{call_session_id}}&employee_full_name={{employee_full_name}}&file_duration={{file_duration}}&file_link={{file_link}}',
                      'POST': '{\n'
                              '  "notification_name": {{notification_name}},\n'
                              '  "virtual_phone_number": {{virtual_phone_number}},\n'
                              '  "notification_time": {{notification_time}},\n'
                              '  "scenario_name": {{scenario_name}},\n'
                              '  "contact_info": {\n'
                              '    "contact_phone_number": {{contact_phone_number}},\n'
                              '    "communication_number": {{communication_number}},\n'
                              '    "contact_id": {{contact_id}},\n'
                              '    "contact_full_name": {{contact_full_name}}\n'
                              '  },\n'
                              '  "call_session_id": {{call_session_id}},\n'
                              '  "employee_info": {\n'
                              '    "employee_full_name": {{employee_full_name}},\n'
                              '    "employee_id": {{employee_id}}\n'
                              '  },\n'
                              '  "call_record_file_info": {\n'
                              '    "file_link": {{file_link}},\n'
                              '    "call_record_duration": {{file_duration}}\n'
                              '  },\n'
                              '  "tag_ids": {{tag_ids}},\n'
                              '  "tag_names": {{tag_names}}\n'
                              '}'},
 'talk_started': {'GET': 'notification_name={{notification_name}}&notification_time={{notification_time}}&external_id={{external_id}}&contact_phone_number={{contact_phone_number}}&contact_id={{contact_id}}&employee_full_name={{employee_full_name}}&employee_id={{employee_id}}&call_source={{call_source}}&call_session_id={{call_session_id}}&direction={{direction}}&leg_ids={{leg_ids}}',
                  'POST': '{  \n'
                          '  "notification_name":{{notification_name}},\n'
                          '  "notification_time":{{notification_time}},\n'
                          '  "external_id": {{external_id}},\n'
                          '  "contact_info":{\n'
                          '    "contact_phone_number":{{contact_phone_number}},\n'
                          '\t"contact_id": {{contact_id}}\n'
                          '  },\n'
                          '  "employee_info": {\n'
                          '    "employee_full_name": {{employee_full_name}},\n'
                          '    "employee_id": {{employee_id}}\n'
                          '  },\n'
                          '  "call_source": {{call_source}},\n'
                          '  "call_session_id":{{call_session_id}},\n'
                          '  "direction": {{direction}},\n'
                          '  "leg_ids": {{leg_ids}}\n'
                          '}'},
 'talk_finished': {'GET': 'notification_name={{notification_name}}&virtual_phone_number={{virtual_phone_number}}&notification_time={{notification_time}}&external_id={{external_id}}&contact_phone_number={{contact_phone_number}}&communication_number={{communication_number}}&contact_fullname={{contact_full_name}}&employee_full_name={{employee_full_name}}&employee_id={{employee_id}}&call_source={{call_source}}&direction={{direction}}&call_session_id={{call_session_id}}&scenario_name={{scenario_name}}&talk_time_duration={{talk_time_duration}}&leg_ids={{leg_ids}}',
                   'POST': '{  \n'
                           '  "notification_name":{{notification_name}},\n'
                           '  "virtual_phone_number":{{virtual_phone_number}},\n'
                           '  "notification_time":{{notification_time}},\n'
                           '  "external_id": {{external_id}},\n'
                           '  "contact_info":{  \n'
                           '    "contact_phone_number":{{contact_phone_number}},\n'
                           '    "communication_number":{{communication_number}}\n'
                           '  },\n'
                           '  "employee_info": {\n'
                           '    "employee_full_name": {{employee_full_name}},\n'
                           '    "employee_id": {{employee_id}}\n'
                           '  },\n'
                           '  "call_info": {\n'
                           '    "call_source": {{call_source}},\n'
                           '    "call_session_id":{{call_session_id}},\n'
                           '    "direction": {{direction}},\n'
                           '    "scenario_name": {{scenario_name}},\n'
                           '    "talk_time_duration": {{talk_time_duration}}\n'
                           '  },\n'
                           '  "leg_ids": {{leg_ids}}\n'
                           '}'},
 'offline_message': {'POST': '{\n'
                             '  "notification_name": {{notification_name}},\n'
                             '  "notification_time": {{notification_time}},\n'
                             '  "visitor": {\n'
                             '    "visitor_name": {{visitor_name}},\n'
                             '    "visitor_phone_number": {{visitor_phone_number}},\n'
                             '    "visitor_email": {{visitor_email}},\n'
                             '    "visitor_message": {{visitor_message}},\n'
                             '    "visitor_id": {{visitor_id}},\n'
                             '    "session_id": {{session_id}}\n'
                             '  },\n'
                             '  "offline_message_id": {{offline_message_id}},\n'
                             '  "site_domain_name": {{site_domain_name}},\n'
                             '  "campaign_id": {{campaign_id}},\n'
                             '  "campaign_name": {{campaign_name}},\n'
                             '  "communication_id": {{communication_id}},\n'
                             '  "search_engine": {{search_engine}},\n'
                             '  "search_query": {{search_query}}\n'
                             '}',
                     'GET': 'notification_name={{notification_name}}&notification_time={{notification_time}}&visitor_name={{visitor_name}}&visitor_phone_number={{visitor_phone_number}}&visitor_email={{visitor_email}}&visitor_message={{visitor_message}}&offline_message_id={{offline_message_id}}&site_domain_name={{site_domain_name}}&campaign_id={{campaign_id}}&campaign_name={{campaign_name}}&communication_id={{communication_id}}&search_engine={{search_engine}}&search_query={{search_query}}&visitor_id={{visitor_id}}&session_id={{session_id}}'},
 'chat_finished': {'POST': '{\n'
                           '  "notification_name": {{notification_name}},\n'
                           '  "notification_time": {{notification_time}},\n'
                           '  "site_domain_name": {{site_domain_name}},\n'
                           '  "campaign_id": {{campaign_id}},\n'
                           '  "campaign_name": {{campaign_name}},\n'
                           '  "communication_id": {{communication_id}},\n'
                           '  "search_engine": {{search_engine}},\n'
                           '  "search_query": {{search_query}},\n'
                           '  "session_id": {{session_id}},\n'
                           '  "ua_client_id": {{ua_client_id}},\n'
                           '  "utm_campaign": {{utm_campaign}},\n'
                           '  "utm_content": {{utm_content}},\n'
                           '  "utm_medium": {{utm_medium}},\n'
                           '  "utm_source": {{utm_source}},\n'
                           '  "utm_term": {{utm_term}},\n'
                           '  "chat_id": {{chat_id}},\n'
                           '  "tag_ids": {{tag_ids}},\n'
                           '  "messages": {{messages}},\n'
                           '  "employee_full_name": {{employee_full_name}},\n'
                           '  "visitor_info": {\n'
                           '    "visitor_name": {{visitor_name}},\n'
                           '    "visitor_id": {{visitor_id}}\n'
                           '  },\n'
                           '  "status": {{status}}\n'
                           '}',
                   'GET': 'notification_name={{notification_name}}&notification_time={{notification_time}}&site_domain_name={{site_domain_name}}&campaign_id={{campaign_id}}&campaign_name={{campaign_name}}&communication_id={{communication_id}}&search_engine={{search_engine}}&search_query={{search_query}}&visitor_id={{visitor_id}}&session_id={{session_id}}&ua_client_id={{ua_client_id}}&utm_campaign={{utm_campaign}}&utm_content={{utm_content}}&utm_medium={{utm_medium}}&utm_source={{utm_source}}&utm_term={{utm_term}}&chat_id={{chat_id}}&tag_ids={{tag_ids}}&messages={{messages}}&employee_full_name={{employee_full_name}}&visitor_name={{visitor_name}}&status={{status}}'},
 'lost_chat': {'POST': '{\n'
                       '  "notification_name": {{notification_name}},\n'
                       '  "notification_time": {{notification_time}},\n'
                       '  "site_domain_name": {{site_domain_name}},\n'
                       '  "campaign_id": {{campaign_id}},\n'
                       '  "campaign_name": {{campaign_name}},\n'
                       '  "communication_id": {{communication_id}},\n'
                       '  "search_engine": {{search_engine}},\n'
                       '  "search_query": {{search_query}},\n'
                       '  "session_id": {{session_id}},\n'
                       '  "ua_client_id": {{ua_client_id}},\n'
                       '  "utm_campaign": {{utm_campaign}},\n'
                       '  "utm_content": {{utm_content}},\n'
                       '  "utm_medium": {{utm_medium}},\n'
                       '  "utm_source": {{utm_source}},\n'
                       '  "utm_term": {{utm_term}},\n'
                       '  "chat_id": {{chat_id}},\n'
                       '  "tag_ids": {{tag_ids}},\n'
                       '  "messages": {{messages}},\n'
                       '  "employee_full_name": {{employee_full_name}},\n'
                       '  "visitor_info": {\n'
                       '    "visitor_name": {{visitor_name}},\n'
                       '    "visitor_id": {{visitor_id}}\n'
                       '  }\n'
                       '}',
               'GET': 'notification_name={{notification_name}}&notification_time={{notification_time}}&site_domain_name={{site_domain_name}}&campaign_id={{campaign_id}}&campaign_name={{campaign_name}}&communication_id={{communication_id}}&search_engine={{search_engine}}&search_query={{search_query}}&visitor_id={{visitor_id}}&session_id={{session_id}}&ua_client_id={{ua_client_id}}&utm_campaign={{utm_campaign}}&utm_content={{utm_content}}&utm_medium={{utm_medium}}&utm_source={{utm_source}}&utm_term={{utm_term}}&chat_id={{chat_id}}&tag_ids={{tag_ids}}&messages={{messages}}&employee_full_name={{employee_full_name}}&visitor_name={{visitor_name}}'},
 'set_mark': {'GET': 'notification_name={{notification_name}}&virtual_phone_number={{virtual_phone_number}}&notification_time={{notification_time}}&external_id={{external_id}}&contact_phone_number={{contact_phone_number}}&contact_phone_number={{contact_phone_number}}&communication_number={{communication_number}}&call_source={{call_source}}&call_session_id={{call_session_id}}&direction={{direction}}&tag_id={{tag_id}}&tag_name={{tag_name}}',
              'POST': '{  \n'
                      '  "notification_name":{{notification_name}},\n'
                      '  "virtual_phone_number":{{virtual_phone_number}},\n'
                      '  "notification_time":{{notification_time}},\n'
                      '  "external_id": {{external_id}},\n'
                      '  "contact_info":{  \n'
                      '    "contact_phone_number": {{contact_phone_number}},\n'
                      '    "communication_number":{{communication_number}}\n'
                      '  },\n'
                      '  "call_info": {\n'
                      '    "call_source": {{call_source}},\n'
                      '    "call_session_id":{{call_session_id}},\n'
                      '    "direction": {{direction}}\n'
                      '  },\n'
                      '  "tag_info": {\n'
                      '    "tag_id": {{tag_id}},\n'
                      '    "tag_name": {{tag_name}}\n'
                      '  }\n'
                      '}'},
 'unset_mark': {'GET': 'notification_name={{notification_name}}&virtual_phone_number={{virtual_phone_number}}&notification_time={{notification_time}}&external_id={{external_id}}&contact_phone_number={{contact_phone_number}}&contact_phone_number={{contact_phone_number}}&communication_number={{communication_number}}&call_source={{call_source}}&call_session_id={{call_session_id}}&direction={{direction}}&tag_id={{tag_id}}&tag_name={{tag_name}}',
                'POST': '{  \n'
                        '  "notification_name":{{notification_name}},\n'
                        '  "virtual_phone_number":{{virtual_phone_number}},\n'
                        '  "notification_time":{{notification_time}},\n'
                        '  "external_id": {{external_id}},\n'
                        '  "contact_info":{  \n'
                        '    "contact_phone_number": {{contact_phone_number}},\n'
                        '    "communication_number":{{communication_number}}\n'
                        '  },\n'
                        '  "call_info": {\n'
                        '    "call_source": {{call_source}},\n'
                        '    "call_session_id":{{call_session_id}},\n'
                        '    "direction": {{direction}}\n'
                        '  },\n'
                        '  "tag_info": {\n'
                        '    "tag_id": {{tag_id}},\n'
                        '    "tag_name": {{tag_name}}\n'
                        '  }\n'
                        '}'},
 'event': {'POST': '{\n'
                   '  "visitor_id": {{visitor_id}},\n'
                   '  "session_id": {{session_id}},\n'
                   '  "utm_campaign": {{utm_campaign}},\n'
                   '  "utm_content": {{utm_content}},\n'
                   '  "utm_medium": {{utm_medium}},\n'
                   '  "utm_source": {{utm_source}},\n'
                   '  "utm_term": {{utm_term}},\n'
                   '  "visitor_first_campaign_name": {{visitor_first_campaign_name}},\n'
                   '  "visitor_first_campaign_id": {{visitor_first_campaign_id}},\n'
                   '  "visitor_city": {{visitor_city}},\n'
                   '  "goal_name": {{goal_name}},\n'
                   '  "ua_category": {{ua_category}},\n'
                   '  "ua_label": {{ua_label}},\n'
                   '  "ua_action": {{ua_action}},\n'
                   '  "ua_value": {{ua_value}},\n'
                   '  "event_id": {{event_id}},\n'
                   '  "event_log_id": {{event_log_id}},\n'
                   '  "event_name": {{event_name}},\n'
                   '  "event_type": {{event_type}},\n'
                   '  "action": {{action}},\n'
                   '  "label": {{label}},\n'
                   '  "category": {{category}},\n'
                   '  "value": {{value}}\n'
                   '}',
           'GET': 'visitor_id={{visitor_id}}&session_id={{session_id}}&utm_campaign={{utm_campaign}}&utm_content={{utm_content}}&utm_medium={{utm_medium}}&utm_source={{utm_source}}&utm_term={{utm_term}}&visitor_first_campaign_name={{visitor_first_campaign_name}}&visitor_first_campaign_id={{visitor_first_campaign_id}}&visitor_city={{visitor_city}}&goal_name={{goal_name}}&ua_category={{ua_category}}&ua_label={{ua_label}}&ua_action={{ua_action}}&ua_value={{ua_value}}&event_id={{event_id}}&event_log_id={{event_log_id}}&event_name={{event_name}}&event_type={{event_type}}&action={{action}}&label={{label}}&category={{category}}&value={{value}}'}}
