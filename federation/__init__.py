"""The federation app: accounts, single sign-on, and the cooperative on the fediverse."""
