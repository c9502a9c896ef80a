HELLO = "Hello from a local dependency"
