"""Spotting runs' results: the stored study and its report (terminal and HTML), MEGC's STRS
scoring of any spotter's output, the spotted intervals' timeline, spot-then-recognise, and the
selected spotter's export."""
