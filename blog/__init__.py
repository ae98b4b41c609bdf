"""The blog app: news, stories and pages of the cooperative; the front door of the site."""
