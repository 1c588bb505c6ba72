"""The Flask application and its Huey."""
import os

from flask import Flask

from hueyd import RedisHuey

DEBUG = True
SECRET_KEY = "not so secret: an example"

app = Flask(__name__)
app.config.from_object(__name__)

huey = RedisHuey(url=os.environ.get("REDIS_URL"))
