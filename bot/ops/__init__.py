"""Starting things: the command line (``python -m bot``), the local servers, the cluster behind
nginx, and the web app that serves the widget; and the dependency audit (``make audit``)."""
