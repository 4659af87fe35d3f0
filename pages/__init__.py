"""The app's pages live in pages/views/, not directly in pages/.

Why the extra folder: Streamlit decides, once per server process and again on every AppTest run,
whether a `pages/` folder next to app.py is an old-style (v1) multipage folder, *before* app.py
runs. In that mode a request for /masking executes pages/masking.py on its own, without the shell
(no sidebar, no model). v1 discovery only lists `pages/*.py` (minus __init__.py), so with the page
scripts one folder down it finds none, always runs app.py, and app.py's st.navigation routes.
"""
