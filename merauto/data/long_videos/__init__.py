"""Long videos for spotting: annotated folders of frames, the licensed long-video sets, their
frames read cropped and cached, their dataset check, and expression tables as MEGC's script reads them."""
