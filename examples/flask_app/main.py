"""The entry point: importing tasks and views registers them (with Huey and Flask)."""
import tasks  # noqa: F401
import views  # noqa: F401
from app import app, huey  # noqa: F401 (the consumer's APP is main.huey)

if __name__ == "__main__":
    app.run()
