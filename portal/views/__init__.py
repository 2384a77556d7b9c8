"""The portal's pages: home.py (dashboard, case pages, your data, tell us once) and
apply.py (service catalogue, life events, applying with pre-filled forms and drafts)."""
