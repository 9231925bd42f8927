"""What a browser sees: the JSON API, the pages and their static files."""
