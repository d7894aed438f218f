// Keeps the interop peers on loopback: every UDP socket of this process that would bind to all
// interfaces (the library's listeners, and the sockets coap binds implicitly when it first sends)
// binds to 127.0.0.1 instead. Required first by client.js and server.js.
'use strict';

const dgram = require('dgram');

const LOOPBACK = '127.0.0.1';
const bind = dgram.Socket.prototype.bind;

dgram.Socket.prototype.bind = function (...args) {
    if (args.length > 0 && args[0] !== null && typeof args[0] === 'object') {
        const options = { ...args[0] };
        if (!options.address || options.address === '0.0.0.0') {
            options.address = LOOPBACK;
        }
        args[0] = options;
    } else if (typeof args[0] === 'function' || args.length === 0) {
        args = [0, LOOPBACK, ...args];
    } else if (typeof args[1] !== 'string' || args[1] === '0.0.0.0') {
        // bind(port), bind(port, callback), bind(port, null|undefined, callback)
        const rest = typeof args[1] === 'function' ? args.slice(1) : args.slice(2);
        args = [args[0], LOOPBACK, ...rest];
    }
    return bind.apply(this, args);
};
