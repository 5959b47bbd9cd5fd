"""Developer tooling: embedded servers, the `./dev up` supervisor and the `./dev test` runner."""
