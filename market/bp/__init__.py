"""The market app's blueprints: thin routes that parse, call a service and render."""
