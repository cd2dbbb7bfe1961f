/*
 * What the shim uses when the network configuration names nothing. The two
 * paths are podnet.shim.defaults' (proto/podnet/shim/defaults.py); the limits
 * are cni_shim/settings.py's. tests/shim/test_defaults.py checks both shims
 * behave the same.
 */
#ifndef PODNET_DEFAULTS_H
#define PODNET_DEFAULTS_H

#define DEFAULT_AGENT_SOCKET "/run/podnet/agent.sock"
#define DEFAULT_SPOOL_DIR "/var/lib/podnet/spool"
#define DEFAULT_TIMEOUT_SECONDS 30.0
/* STATUS is polled every few seconds by containerd; a slow answer is a failed one. */
#define STATUS_TIMEOUT_SECONDS 5.0
/* Keeps deadline arithmetic finite for absurd timeoutSeconds values. */
#define MAX_TIMEOUT_SECONDS 1e9
/* The most stdin (network configuration) the shim reads; more is answered with code 6. */
#define MAX_CONFIG_BYTES (1u << 20)

#endif
