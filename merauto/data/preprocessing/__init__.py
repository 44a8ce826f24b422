"""Preprocessing (survey §4.1): face registration, magnification, regions of interest, temporal
normalisation, optical flow and strain, dynamic images, LBP-TOP, landmarks and apex spotting."""
