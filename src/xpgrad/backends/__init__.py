"""Built-in backends. Each subpackage registers one device family."""
