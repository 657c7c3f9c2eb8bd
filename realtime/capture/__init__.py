"""Where frames come from: video files, image folders and cameras, each a generator of Frames."""
