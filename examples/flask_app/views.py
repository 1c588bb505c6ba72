"""The one page: a form; posting a number enqueues example_task with it."""
from app import app
from flask import render_template, request
from tasks import example_task


@app.route("/", methods=["GET", "POST"])
def home():
    message = None
    if request.method == "POST" and request.form.get("n"):
        n = request.form["n"]
        example_task(n)  # the consumer picks it up
        message = f"Enqueued example_task({n}) - see consumer output"
    return render_template("home.html", message=message)
