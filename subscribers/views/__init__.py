"""Public pages: signup, confirmation, preference centre, data links, unsubscribe. Thin: services
do the work. One module per page family; urls.py names the views."""
