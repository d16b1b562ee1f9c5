"""The web shell: base layout, navigation, error pages, health, metrics, static assets."""
