"""A task of Django's own tasks framework (Django 6, or the django-tasks package), run by
hueyd through TASKS' HueyBackend: ``add_note_later.enqueue("text")``."""
import os

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task

from notes.models import Note


@task()
def add_note_later(text):
    return Note.objects.create(text=text, pid=os.getpid()).pk
