"""Django management commands of hueyd.contrib.djhuey."""
