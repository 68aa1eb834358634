"""The screens of `rememberer tui`, one module each: runs -> episodes -> episode, and help."""
