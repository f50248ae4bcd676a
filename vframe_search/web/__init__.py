"""Web pages for curators: server-rendered shells whose JavaScript calls the REST API."""
