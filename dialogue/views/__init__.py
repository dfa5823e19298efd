"""The dialogue pages: the public archive and the signed subscriber pages (views/archive.py,
views/letters.py, views/conversations.py), and the staff and marketer tools (views/staff.py)."""
