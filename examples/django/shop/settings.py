"""Settings of the example project. Paths and addresses come from the environment, so the
same code runs from a checkout (``manage.py run_huey``) and under ``hueyd@shop`` (the
instance's YAML sets them in ``environment:``)."""
import importlib.util
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("SHOP_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("SHOP_DEBUG", "") == "1"
ALLOWED_HOSTS: list = []
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["hueyd.contrib.djhuey", "notes"]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.environ.get("SHOP_DB", str(BASE_DIR / "shop.sqlite3")),
}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

HUEY = {
    "huey_class": "hueyd.RedisHuey",
    "name": "shop",
    "immediate": False,  # DEBUG would run tasks in the caller: say what you want
    "connection": {"url": os.environ.get("SHOP_REDIS_URL", "redis://localhost:6379/0")},
    # manage.py run_huey's defaults (under hueyd@shop, /etc/hueyd/shop.yaml decides)
    "consumer": {"workers": 2, "worker_type": "thread"},
}

# Django's tasks framework (Django 6, or the django-tasks package before it) on the same
# queue, when it is installed
if importlib.util.find_spec("django_tasks") or (
        importlib.util.find_spec("django") and importlib.util.find_spec("django.tasks")):
    TASKS = {"default": {"BACKEND": "hueyd.contrib.djhuey.tasks_backend.HueyBackend"}}
