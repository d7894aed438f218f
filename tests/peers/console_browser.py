"""Drives the web console of a running `nbmodem sandbox` in headless Chromium over WebDriver
(Selenium), as a person would, while typing AT commands on the sandbox's module (its AT port on a
pseudo-terminal): log in, watch the module register and its uplink arrive without a reload, send
a raw downlink and see +NNMI on the module, switch a fault on and find it in force in the API,
create a product with a codec, try it online, and see the module's uplink decoded and a command
reach it, and read an object of the module from its object tree. Then a DFOTA as seed 002 §5.1 does
it: a product from the seed's Profile file (examples/dfota) for the module, then through the FOTA
page's forms the manufacturer's public.pem, the signed package and a batch task for it; the module
downloads and updates at its next uplink, reboots into the new revision and reports at its next
registration, while the task's progress bar, without a reload, goes from waiting through
downloading and updating to succeeded. A screenshot of each page goes to the screenshot directory;
any browser console error (a SEVERE log entry) fails the run.

Usage: console_browser.py <console url> <token file> <AT pty> <screenshot dir> <manufacturer dir>

The manufacturer directory holds what `nbmodem fota keygen`, `make` and `sign` wrote: `public.pem`,
the delta package BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A.bin and its signed zip
BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A_signed.zip.

Prints "CONSOLE OK" at the end; anything else is a failure (exit status 1, with the reason).
"""

import json
import os
import sys
import termios
import threading
import time
import traceback
import tty
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

console_url, token_file, pty_path, shots, manufacturer = sys.argv[1:6]
token = open(token_file).read().strip()
api_base = console_url.rsplit("/console", 1)[0]
# Generous bounds: the machine may be busy; none is a timed assertion on the code under test.
WAIT = 60


def call(method, path, body=None):
    """The API with the token, as a script would call it: (status, JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(api_base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


class Module:
    """The module's AT port: commands in, everything it printed kept."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd, termios.TCSANOW)
        self.output = ""
        self.lock = threading.Lock()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        while True:
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return
            with self.lock:
                self.output += chunk.decode(errors="replace")

    def send(self, line):
        os.write(self.fd, (line + "\r\n").encode())

    def wait_for(self, text, since=0):
        """Waits for `text` printed after `since`; where it ends."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with self.lock:
                found = self.output.find(text, since)
            if found >= 0:
                return found + len(text)
            time.sleep(0.1)
        raise AssertionError(f"the module never printed {text!r}; it printed:\n{self.output}")

    def wait_registered(self):
        """Asks AT+CEREG? until the module has attached (a couple of seconds after boot)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            since = self.mark()
            self.send("AT+CEREG?")
            time.sleep(0.5)
            with self.lock:
                if "+CEREG: 0,1" in self.output[since:]:
                    return
        raise AssertionError(f"the module never attached; it printed:\n{self.output}")

    def mark(self):
        with self.lock:
            return len(self.output)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,1600", "--disable-gpu"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


driver = browser()
# A live page replaces its parts as events come: an element found may be gone when read.
wait = WebDriverWait(driver, WAIT, ignored_exceptions=[StaleElementReferenceException])
errors = []


def collect_errors(expected=()):
    """The browser's console errors so far, but for those `expected` names."""
    for entry in driver.get_log("browser"):
        if entry["level"] == "SEVERE" and not any(e in entry["message"] for e in expected):
            errors.append(entry["message"])


def shot(name):
    os.makedirs(shots, exist_ok=True)
    driver.save_screenshot(os.path.join(shots, f"{name}.png"))


def text_of(selector):
    return driver.find_element(By.CSS_SELECTOR, selector).text


def wait_text(selector, text):
    wait.until(lambda d: any(text in e.text for e in d.find_elements(By.CSS_SELECTOR, selector)),
               f"{text!r} never appeared in {selector}")


def still_same_page():
    """The marker set on the page is still there: nothing reloaded it."""
    assert driver.execute_script("return window.nbmodemMarker === 1"), "the page was reloaded"


# The model of docs/codecs.md's water meter (the products page's example), compact codec: a
# report of 12.5 m3 with the valve open.
REPORT = "020001000E40290000000000004F50454E0000"


def fill(element_id, text):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def codec(module, imei):
    """A product with a codec, tried online, given to the module: its uplink decoded, a command."""
    driver.find_element(By.ID, "nav-products").click()
    wait.until(lambda d: d.find_elements(By.ID, "product-edit"))
    fill("product-id", "meter")
    Select(driver.find_element(By.ID, "product-codec")).select_by_value("compact")
    driver.find_element(By.ID, "product-save").click()
    wait_text("#product-edit", "saved with the compact codec")
    wait_text("#products", "compact")
    fill("debug-product", "meter")
    fill("debug-hex", REPORT)
    driver.find_element(By.CSS_SELECTOR, "#debug-uplink button").click()
    wait_text("#debug-uplink-result", "12.5")
    fill("debug-command-json", '{"service":"Meter","command":"SET_VALVE","params":{"state":"CLOSED"}}')
    driver.find_element(By.CSS_SELECTOR, "#debug-command button").click()
    wait_text("#debug-command-result", '"hex"')
    shot("products")

    driver.find_element(By.ID, "nav-devices").click()
    wait.until(lambda d: d.find_elements(By.ID, "device-edit"))
    fill("device-imei", imei)
    fill("device-product", "meter")
    driver.find_element(By.ID, "device-save").click()
    wait_text("#device-edit", "saved")
    wait.until(lambda d: "meter" in d.find_element(By.CSS_SELECTOR, f"#devices tr[data-imei='{imei}']").text)
    driver.find_element(By.LINK_TEXT, imei).click()
    wait.until(lambda d: d.find_elements(By.ID, "command-form"))
    module.send(f"AT+NMGS={len(REPORT) // 2},{REPORT}")
    wait_text("#uplinks", "12.5")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chart svg polyline"))
    mark = module.mark()
    fill("command-service", "Meter")
    fill("command-name", "SET_VALVE")
    fill("command-params", '{"state":"CLOSED"}')
    driver.find_element(By.CSS_SELECTOR, "#command-form button").click()
    wait_text("#command-form", "encoded")
    wait_text("#downlinks", "SET_VALVE")
    module.send(f"AT+NMGS={len(REPORT) // 2},{REPORT}")
    # The compact command: 06, SET_VALVE's compactId 0002, then the task id.
    module.wait_for("+NNMI", since=mark)
    module.wait_for(",060002", since=mark)
    command = "//tr[contains(., 'SET_VALVE') and contains(., 'delivered')]"
    wait.until(lambda d: d.find_elements(By.XPATH, command), "the command never showed delivered")

    # The object tree: a Read of /3/0 (the device object), answered at the device's next contact.
    driver.find_element(By.CSS_SELECTOR, "tr[data-path='/3/0'] .op-read").click()
    wait_text("#operation-message", "queued")
    module.send(f"AT+NMGS={len(REPORT) // 2},{REPORT}")
    read = "//*[@id='operations']//tr[contains(., '/3/0') and contains(., 'done')]"
    wait.until(lambda d: d.find_elements(By.XPATH, read), "the Read of /3/0 never showed done")
    still_same_page()
    shot("device-codec")


# Seed 002 §5.1: the sandbox module's revision, the one the package upgrades it to, the package's
# id (its .bin's name), and §5.1.2's Profile template made valid (examples/dfota): its device is
# the package's manufacturer, device type and model, with fwUpgradeCapability.
SOURCE, TARGET = "BC260YCNAAR02A01", "BC260YCNAAR02A01_BETA1230A"
PACKAGE = f"{SOURCE}_{TARGET}"
DFOTA_PROFILE = os.path.join(os.path.dirname(__file__), "../../examples/dfota/profile.json")
# Each state the progress bar of `arguments[0]` shows, in order, kept in window.nbmodemBar: the
# page replaces the task's table at each event, so the bar is looked up again at each change.
RECORD_BAR = """
const selector = arguments[0];
window.nbmodemBar = [];
const record = () => {
  const bar = document.querySelector(selector);
  const seen = window.nbmodemBar;
  if (bar && seen[seen.length - 1] !== bar.className) seen.push(bar.className);
};
new MutationObserver(record).observe(document.getElementById("main"),
  { subtree: true, childList: true, attributes: true });
"""


def choose_file(input_id, path, area_id, text):
    """Chooses a file in a file input, and waits for its text, with `text`, in the text area."""
    driver.find_element(By.ID, input_id).send_keys(os.path.realpath(path))
    wait.until(lambda d: text in d.find_element(By.ID, area_id).get_attribute("value"),
               f"{path} never filled {area_id}")


def wait_bar(bar, status):
    """Waits for the progress bar to show `status`, with the status column saying so."""
    def shows(d):
        found = d.find_elements(By.CSS_SELECTOR, bar)
        if not found or found[0].get_attribute("class") != status:
            return False
        return found[0].find_element(By.XPATH, "./ancestor::tr//span[@class]").text == status
    wait.until(shows, f"the progress bar and status never showed {status}")


def fota(module, imei):
    """Seed 002 §5.1 in the console: the product with firmware upgrades given to the device, the
    public key, the signed package and a batch task added through the FOTA page's forms; then the
    module's next uplink starts the upgrade, and the progress bar follows it to succeeded."""
    driver.find_element(By.ID, "nav-products").click()
    wait.until(lambda d: d.find_elements(By.ID, "product-edit"))
    fill("product-id", "dfota")
    choose_file("product-profile-file", DFOTA_PROFILE, "product-profile", "fwUpgradeCapability")
    Select(driver.find_element(By.ID, "product-codec")).select_by_value("passthrough")
    driver.find_element(By.ID, "product-save").click()
    wait_text("#product-edit", "product dfota saved")
    driver.find_element(By.ID, "nav-devices").click()
    wait.until(lambda d: d.find_elements(By.ID, "device-edit"))
    fill("device-imei", imei)
    fill("device-product", "dfota")
    driver.find_element(By.ID, "device-save").click()
    wait.until(lambda d: "dfota" in d.find_element(By.CSS_SELECTOR, f"#devices tr[data-imei='{imei}']").text)

    # §5.1.3 step 3, §5.1.5, §5.1.6.1: the key, the package, the task.
    driver.find_element(By.ID, "nav-fota").click()
    wait.until(lambda d: d.find_elements(By.ID, "task-form"))
    fill("key-manufacturer", "quectel")
    choose_file("key-file", os.path.join(manufacturer, "public.pem"), "key-pem", "BEGIN PUBLIC KEY")
    driver.find_element(By.CSS_SELECTOR, "#key-form button").click()
    wait_text("#key-form", "key of quectel (ECDSA_256K1+SHA256) saved")
    wait_text("#fota-keys", "quectel")
    fields = {"version": TARGET, "manufacturer": "quectel", "device_type": "WaterMeter",
              "model": "NBIoTDevice", "product": "dfota"}
    for field, value in fields.items():
        fill(f"package-{field}", value)
    signed = os.path.join(manufacturer, f"{PACKAGE}_signed.zip")
    driver.find_element(By.ID, "package-file").send_keys(signed)
    driver.find_element(By.CSS_SELECTOR, "#package-form button").click()
    wait_text("#package-form", f"package {PACKAGE} uploaded")
    wait_text("#fota-packages", PACKAGE)
    bar = f"#task-dfota1 progress[data-imei='{imei}']"
    driver.execute_script(RECORD_BAR, bar)
    fill("task-id", "dfota1")
    fill("task-package", PACKAGE)
    fill("task-devices", imei)
    fill("task-group", "DFOTA")
    driver.find_element(By.CSS_SELECTOR, "#task-form button").click()
    wait_text("#task-form", "task dfota1 created")
    wait_bar(bar, "waiting")

    # §5.1.6.2: the next uplink starts it; the module downloads (the last DOWNLOADING is the
    # whole .bin), updates and reboots.
    size = os.path.getsize(os.path.join(manufacturer, f"{PACKAGE}.bin"))
    at = module.mark()
    module.send("AT+NMGS=5,00454c4c4f")
    for urc in ["+QLWEVTIND: 8", '+QIND: "FOTA","DOWNLOAD START"', '+QIND: "FOTA","DOWNLOADING",512',
                f'+QIND: "FOTA","DOWNLOADING",{size}\r', '+QIND: "FOTA","DOWNLOAD",0',
                '+QIND: "FOTA","START"']:
        at = module.wait_for(urc, since=at)
    # The update takes its progress steps, then the reboot and a registration: the bar stays.
    wait_bar(bar, "updating")
    shot("fota-updating")
    for urc in ['+QIND: "FOTA","UPDATING",2%,1,1', '+QIND: "FOTA","UPDATING",100%,1,1',
                '+QIND: "FOTA","END",0', "+CPIN: READY"]:
        at = module.wait_for(urc, since=at)

    # As the seed: after the reboot the host opens the link again; the result is reported.
    module.send("AT+QSCLK=0")
    module.wait_registered()
    module.send('AT+NCDPOPEN="180.101.147.115",5683')
    for urc in ["+QLWEVTIND: 0", "+QLWEVTIND: 3", "+QLWEVTIND: 9"]:
        at = module.wait_for(urc, since=at)
    wait_bar(bar, "succeeded")
    assert driver.find_element(By.CSS_SELECTOR, bar).get_attribute("value") == "100"
    for note in ["attempt 1: observing /5/0/3", "the device downloads", "update executed",
                 "succeeded (result 1)"]:
        wait_text("#task-dfota1 .history", note)
    states = driver.execute_script("return window.nbmodemBar")
    assert states == ["waiting", "downloading", "updating", "succeeded"], states
    still_same_page()
    shot("fota")
    module.send("ATI")
    module.wait_for(f"Revision: {TARGET}", since=at)


def run(module):
    module.send("AT")
    module.wait_for("OK")
    status, devices = call("GET", "/api/iot/devices")
    assert status == 200, devices
    imei = devices["devices"][0]["imei"]

    # Log in: a wrong token first (an error, no cookie), then the right one.
    driver.get(console_url)
    wait.until(lambda d: d.find_elements(By.ID, "token"))
    shot("login")
    driver.find_element(By.ID, "token").send_keys("0" * 32)
    driver.find_element(By.ID, "login-button").click()
    wait_text("#login-error", "not the platform's token")
    assert not driver.get_cookies(), driver.get_cookies()
    collect_errors(expected=["/api/login"])
    token_field = driver.find_element(By.ID, "token")
    token_field.clear()
    token_field.send_keys(token)
    driver.find_element(By.ID, "login-button").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#devices tr[data-imei='{imei}']"))
    cookie = driver.get_cookie("nbmodem_session")
    assert cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", cookie
    wait_text("#live", "live")
    driver.execute_script("window.nbmodemMarker = 1")

    # The module registers: the list says so without a reload.
    # As seed 002's transcript: no deep sleep, data shown in +NNMI, once attached the link.
    module.send("AT+QSCLK=0")
    module.send("AT+NNMI=1")
    module.wait_registered()
    module.send('AT+NCDPOPEN="180.101.147.115",5683')
    row = f"#devices tr[data-imei='{imei}']"
    wait.until(lambda d: "yes yes" in d.find_element(By.CSS_SELECTOR, row).text,
               "the device never showed registered and observed")
    still_same_page()
    shot("devices")

    # Its uplink appears on its page without a reload.
    driver.find_element(By.LINK_TEXT, imei).click()
    wait.until(lambda d: d.find_elements(By.ID, "raw-form"))
    module.send("AT+NMGS=5,00454c4c4f")
    wait_text("#uplinks", "00454C4C4F")
    still_same_page()

    # A raw downlink from the page reaches the module at its next contact.
    mark = module.mark()
    driver.find_element(By.ID, "raw-hex").send_keys("AA0102")
    driver.find_element(By.ID, "raw-send").click()
    # The platform's answer ("downlink N queued"; the button says "Queue downlink"): only then is
    # the downlink there for the next uplink to find.
    wait_text("#raw-form", "queued")
    module.send("AT+NMGS=1,01")
    module.wait_for("AA0102", since=mark)
    assert "+NNMI" in module.output[mark:], module.output[mark:]
    raw = "//tr[contains(., 'AA0102') and contains(., 'delivered')]"
    wait.until(lambda d: d.find_elements(By.XPATH, raw), "the downlink never showed delivered")
    still_same_page()
    shot("device")

    # A fault switched on in the page is in force in the API.
    driver.find_element(By.ID, "nav-standins").click()
    wait.until(lambda d: d.find_elements(By.ID, "fault-form-ct"))
    Select(driver.find_element(By.ID, "fault-kind-ct")).select_by_value("drop")
    value = driver.find_element(By.ID, "fault-value-ct")
    value.clear()
    value.send_keys("2")
    driver.find_element(By.ID, "fault-on-ct").click()
    wait_text("#faults-ct", "drop=2")
    status, faults = call("GET", "/api/faults/ct")
    assert status == 200 and faults["drop"] == 2, faults
    wait_text("#records-iot", "register")
    shot("standins")
    driver.find_element(By.ID, "fault-off-ct").click()
    wait_text("#faults-ct", "drop=0")
    still_same_page()

    codec(module, imei)
    fota(module, imei)

    # Logging out ends the session: the API refuses the cookie, the login is on show.
    driver.find_element(By.ID, "logout").click()
    wait.until(lambda d: d.find_elements(By.ID, "token"))
    collect_errors()
    assert not errors, "browser console errors:\n" + "\n".join(errors)


module = Module(pty_path)
try:
    run(module)
    print("CONSOLE OK", flush=True)
except Exception:  # noqa: BLE001 - any failure is reported, with a screenshot
    try:
        shot("failure")
    finally:
        print(f"CONSOLE FAILED:\n{traceback.format_exc()}\nthe module printed:\n{module.output}",
              flush=True)
    sys.exit(1)
finally:
    driver.quit()
