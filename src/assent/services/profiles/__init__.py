"""Profiles: reading, state and decisions (`reading`), the API's pages (`pages`), creating and editing one
(`writes`), finding one (`locator`), and the set-based engine of profile writes (`batch`)."""
