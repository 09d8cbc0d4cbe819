# gunicorn settings (https://docs.gunicorn.org/en/stable/settings.html)
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
accesslog = "-"
errorlog = "-"
timeout = 30
