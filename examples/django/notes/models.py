"""One model: the rows the tasks write."""
from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=200)
    #: the process that wrote it (a hueyd worker, or the caller in immediate mode)
    pid = models.IntegerField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.text
