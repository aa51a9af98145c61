"""One call's life: its session (the carrier plan), its attempts, the signals they react
to, and the recorder that tells what happened. `ari_app.calls.CallService` runs them."""
