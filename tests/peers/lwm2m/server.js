#!/usr/bin/env node
// An LwM2M 1.0 server built on lwm2m-node-lib (Telefónica), the interop peer of
// crates/cli/tests/interop_lwm2m.rs for nbmodem's LwM2M client.
//
// Usage: node server.js PORT
//
// Listens on 127.0.0.1:PORT (UDP; PORT 0: a free port) and prints one JSON line per event on
// stdout:
//   {"event":"listening","port":5683}              the port it listens on
//   {"event":"registered","endpoint":"…","lifetime":"…","version":"…","binding":"…","payload":"…"}
//   {"event":"op","op":"…","ok":true,"value":"…"} or {…,"ok":false,"code":"4.06"}
//   {"event":"done"}                               after the operations below
//   {"event":"updated","endpoint":"…"}
//   {"event":"deregistered","endpoint":"…"}
// After the first registration it runs, one after the other, on the client just registered: Read
// /3/0/0 without Accept, with Accept text/plain (0) and with the library's pre-1.0
// application/vnd.oma.lwm2m+text (1541); Discover /3/0; Write "Europe/Madrid" as text/plain (0) to
// /3/0/15, and Read /3/0/15 back. Each operation is given up after 5 s.
'use strict';

require('./loopback');
const lwm2m = require('lwm2m-node-lib');

const port = Number(process.argv[2]);
if (!Number.isInteger(port)) {
    process.stderr.write('usage: node server.js PORT\n');
    process.exit(2);
}

const server = lwm2m.server;
const OPERATION_LIMIT_MS = 5000;

function emit(record) {
    process.stdout.write(JSON.stringify(record) + '\n');
}

// Keeps the library quiet: stdout carries only our JSON lines.
require('logops').setLevel('FATAL');

const config = {
    port: port,
    lifetimeCheckInterval: 1000,
    udpWindow: 100,
    defaultType: 'Device',
    logLevel: 'FATAL',
    ipProtocol: 'udp4',
    serverProtocol: 'udp4',
    formats: [
        { name: 'application-vnd-oma-lwm2m/text', value: 1541 },
        { name: 'application-vnd-oma-lwm2m/tlv', value: 1542 },
        { name: 'application-vnd-oma-lwm2m/json', value: 1543 },
        { name: 'application-vnd-oma-lwm2m/opaque', value: 1544 },
    ],
    writeFormat: 'text/plain',
};

// Runs one library operation (its last argument a callback) and reports its outcome.
function operation(name, run) {
    return new Promise((resolve) => {
        let settled = false;
        const timer = setTimeout(() => {
            settled = true;
            emit({ event: 'op', op: name, ok: false, code: 'timeout' });
            resolve();
        }, OPERATION_LIMIT_MS);
        run((error, value) => {
            if (settled) {
                return;
            }
            settled = true;
            clearTimeout(timer);
            if (error) {
                emit({ event: 'op', op: name, ok: false, code: String(error.code || error.name) });
            } else {
                emit({ event: 'op', op: name, ok: true, value: value === undefined ? null : String(value) });
            }
            resolve();
        });
    });
}

async function operate(endpoint) {
    const device = await new Promise((resolve, reject) =>
        server.getDevice(endpoint, (error, found) => (error ? reject(error) : resolve(found))));
    const id = device.id;
    delete config.defaultAcceptFormat;
    await operation('read /3/0/0', (done) => server.read(id, '3', '0', '0', done));
    config.defaultAcceptFormat = 'text/plain';
    await operation('read /3/0/0 accept 0', (done) => server.read(id, '3', '0', '0', done));
    config.defaultAcceptFormat = 'application-vnd-oma-lwm2m/text';
    await operation('read /3/0/0 accept 1541', (done) => server.read(id, '3', '0', '0', done));
    delete config.defaultAcceptFormat;
    await operation('discover /3/0', (done) => server.discover(id, '3', '0', done));
    await operation('write /3/0/15', (done) => server.write(id, '3', '0', '15', 'Europe/Madrid', done));
    await operation('read /3/0/15', (done) => server.read(id, '3', '0', '15', done));
    emit({ event: 'done' });
}

server.start(config, (error, serverInfo) => {
    if (error) {
        emit({ event: 'error', stage: 'start', message: String(error.message || error) });
        process.exit(1);
    }
    let operated = false;
    server.setHandler(serverInfo, 'registration', (endpoint, lifetime, version, binding, payload, callback) => {
        emit({ event: 'registered', endpoint, lifetime, version, binding, payload });
        callback();
        if (!operated) {
            operated = true;
            // After the response to the Register has gone.
            setTimeout(() => operate(endpoint).catch((e) => emit({ event: 'error', stage: 'operate', message: String(e) })), 50);
        }
    });
    server.setHandler(serverInfo, 'updateRegistration', (device, payload, callback) => {
        emit({ event: 'updated', endpoint: device.name });
        callback();
    });
    server.setHandler(serverInfo, 'unregistration', (device, callback) => {
        emit({ event: 'deregistered', endpoint: device.name });
        callback();
    });
    // The library sends its own requests through its listener (as a CoAP proxy) at config.port.
    config.port = serverInfo.server._sock.address().port;
    emit({ event: 'listening', port: config.port });
});

// The test closes our stdin (or kills us) when it is done.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
