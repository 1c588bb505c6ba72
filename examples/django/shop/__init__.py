"""shop: an example Django project whose tasks hueyd runs."""
