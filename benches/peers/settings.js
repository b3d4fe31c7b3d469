// Node-RED settings for benches/peers/run.sh: the flow only, on loopback,
// no editor, no admin API, nothing persisted by the flow (context in memory),
// no telemetry or update checks, logs at warn.
module.exports = {
    uiHost: "127.0.0.1",
    uiPort: parseInt(process.env.PORT || "1880", 10),
    httpAdminRoot: false,
    httpNodeRoot: "/",
    flowFilePretty: false,
    credentialSecret: false,
    contextStorage: { default: { module: "memory" } },
    diagnostics: { enabled: false, ui: false },
    telemetry: { enabled: false },
    runtimeState: { enabled: false, ui: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    logging: { console: { level: "warn", metrics: false, audit: false } },
    functionExternalModules: false,
    functionTimeout: 0,
};
