"""The web console: jobs live, every variant playable, submit with a preview; a client of the gateway's
public API like any other (console/gateway_client.py), served over HTTP by `reelmill console`."""
