"""The app's tasks, found by hueyd (django_settings) and run_huey in each app's tasks.py."""
import os
from datetime import timedelta

from django.utils import timezone

from hueyd import crontab
from hueyd.contrib.djhuey import db_periodic_task, db_task
from notes.models import Note


@db_task()
def add_note(text):
    """Write one row; returns its id."""
    return Note.objects.create(text=text, pid=os.getpid()).pk


@db_periodic_task(crontab(minute="0", hour="3"))
def forget_old_notes():
    """Every night at 03:00: notes older than 30 days go."""
    Note.objects.filter(created__lt=timezone.now() - timedelta(days=30)).delete()
