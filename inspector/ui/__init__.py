"""The Qt front end: a thin layer that shows core objects and runs core work off the GUI thread."""
