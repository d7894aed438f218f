#!/usr/bin/env node
// An LwM2M 1.0 client built on lwm2m-node-lib (Telefónica), the interop peer of
// crates/cli/tests/interop_lwm2m.rs for nbmodem's LwM2M server.
//
// Usage: node client.js HOST PORT ENDPOINT LIFETIME [INSTANCE …]
//
// Creates the Device object instance /3/0 (0 manufacturer, 1 model, 3 firmware version) and each
// further INSTANCE given (e.g. /19/0 /19/1, with an empty resource 0), registers with the server at
// HOST:PORT, and prints one JSON line per event on stdout:
//   {"event":"registered","location":"rd/1"}
//   {"event":"read","path":"/3/0/0"}              a Read the server made
//   {"event":"written","path":"/3/0/1","value":"…"} a Write the server made
//   {"event":"deregistered"}
//   {"event":"error","stage":"…","message":"…"}
//   {"event":"set","path":"/19/0/0"}               a "set" line was applied
// A line "set INSTANCE RESOURCE VALUE" on stdin sets a resource (an observer of it is notified); a
// line "deregister" de-registers and exits; the end of stdin exits without it.
'use strict';

require('./loopback');
const lwm2m = require('lwm2m-node-lib');
const readline = require('readline');

const [host, port, endpoint, lifetime, ...instances] = process.argv.slice(2);
if (!lifetime) {
    process.stderr.write('usage: node client.js HOST PORT ENDPOINT LIFETIME\n');
    process.exit(2);
}

const client = lwm2m.client;

function emit(record) {
    process.stdout.write(JSON.stringify(record) + '\n');
}

function fail(stage, error) {
    emit({ event: 'error', stage, message: String((error && (error.message || error.name)) || error) });
    process.exit(1);
}

// Keeps the library quiet: stdout carries only our JSON lines.
require('logops').setLevel('FATAL');

client.init({
    client: {
        lifetime: lifetime,
        version: '1.0',
        logLevel: 'FATAL',
        observe: { period: 3000 },
        ipProtocol: 'udp4',
        serverProtocol: 'udp4',
        formats: [{ name: 'lightweightm2m/text', value: 1541 }],
        writeFormat: 'lightweightm2m/text',
    },
});

function create(instance) {
    return new Promise((resolve, reject) =>
        client.registry.create(instance, (error) => (error ? reject(error) : resolve())));
}

function setResource(id, value, instance = '/3/0') {
    return new Promise((resolve, reject) =>
        client.registry.setResource(instance, id, value, (error) => (error ? reject(error) : resolve())));
}

async function main() {
    await create('/3/0');
    await setResource('0', 'Telefonica I+D');
    await setResource('1', 'lwm2m-node-lib');
    await setResource('3', '1.4.0');
    for (const instance of instances) {
        await create(instance);
        await setResource('0', '', instance);
    }

    const device = await new Promise((resolve, reject) =>
        client.register(host, port, null, endpoint, (error, info) => (error ? reject(error) : resolve(info))));

    client.setHandler(device.serverInfo, 'read', (objectType, objectId, resourceId, value, callback) => {
        emit({ event: 'read', path: `/${objectType}/${objectId}/${resourceId}` });
        callback(null);
    });
    client.setHandler(device.serverInfo, 'write', (objectType, objectId, resourceId, value, callback) => {
        emit({ event: 'written', path: `/${objectType}/${objectId}/${resourceId}`, value: String(value) });
        callback(null);
    });
    emit({ event: 'registered', location: device.location });

    const input = readline.createInterface({ input: process.stdin });
    let leaving = false;
    input.on('line', (line) => {
        const words = line.trim().split(' ');
        if (words[0] === 'set' && words.length === 4) {
            const [, instance, id, value] = words;
            setResource(id, value, instance)
                .then(() => emit({ event: 'set', path: `${instance}/${id}` }))
                .catch((error) => fail('set', error));
        } else if (line.trim() === 'deregister' && !leaving) {
            leaving = true;
            client.unregister(device, (error) => {
                if (error) {
                    fail('deregister', error);
                }
                emit({ event: 'deregistered' });
                process.exit(0);
            });
        }
    });
    input.on('close', () => {
        if (!leaving) {
            process.exit(0);
        }
    });
}

main().catch((error) => fail('register', error));
