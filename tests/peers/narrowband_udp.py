"""Drives nbmodem with the NarrowBand package from PyPI, unmodified, as its authors drive a Quectel
BC95: attach, ask for the signal (AT+CSQ), then send one UDP datagram with send_udp; the library
itself reads the answer
(+NSONMI, then AT+NSORF) and prints its text.

Usage: narrowband_udp.py <serial device> <remote ip> <remote port> <text>

Prints "SENT" once send_udp has returned. The library's reader thread never ends, so this script
runs until the test stops it (run it with python3 -u, so that every line is seen at once).
"""

import sys
import time

from narrowband import Narrowband

device, remote_ip, remote_port, text = sys.argv[1:5]
# reboot=True, the library's default. Given a device by name, the library calls it "unknown" until
# the answer to its ATI has been read, which it does not wait for, and so skips its AT+NRB, as it
# would with a real BC95 on that port (AT+NRB itself is tested in crates/scenario/tests/neul.rs).
modem = Narrowband(device=device, baud=9600, out=1, reboot=True)
modem.attach()
# The signal, through the library's own command call (it prints every line the module writes).
modem.exec_at_cmd("AT+CSQ")
modem.send_udp(remote_ip, remote_port, text)
print("SENT", flush=True)
while True:
    time.sleep(1)
