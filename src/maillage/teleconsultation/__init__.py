"""Teleconsultation: availability, booking, the patient's link, the waiting room and the video room."""
