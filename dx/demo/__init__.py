"""`dx demo`: the story (story.py, the run and the order of scenes) told with a cast (cast.py) in scenes."""
