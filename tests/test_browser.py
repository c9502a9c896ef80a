"""The example site as headless Chromium renders it: stylesheets applied, admin login works.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); skipped without.
Screenshots are saved in DJANGO_ZIPAPP_TEST_ARTIFACTS when set, else in the test's tmp_path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import django
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.archives import Built, build_in, copy_example, run_archive, running_server, site_env

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "a-long-enough-password-42"
# Computed values of colours that only the stylesheets set: without them both are
# transparent. The admin's header is var(--header-bg), #417690; notes/site.css gives
# the page #fbfaf7 and its heading #0c6b58.
ADMIN_HEADER = "rgb(65, 118, 144)"
NOTES_PAPER = "rgb(251, 250, 247)"
NOTES_HEADING = "rgb(12, 107, 88)"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Built:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).is_file()]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not found: apt-get install chromium chromium-driver")
    work = tmp_path_factory.mktemp("browser")
    result = build_in(copy_example(work / "project"), "-o", str(work / "site.pyz"))
    assert result.returncode == 0, result.stdout + result.stderr
    built = Built(work / "site.pyz", result.stdout, work)
    environment = site_env(
        built,
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_EMAIL="admin@example.com",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    for command in (["migrate", "--noinput"], ["createsuperuser", "--noinput"]):
        ran = run_archive(built, *command, env=environment)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    return built


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespaces for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    chosen = os.environ.get("DJANGO_ZIPAPP_TEST_ARTIFACTS")
    directory = Path(chosen) if chosen else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def computed(driver: webdriver.Chrome, selector: str, property_name: str) -> str:
    element = driver.find_element(By.CSS_SELECTOR, selector)
    value: str = driver.execute_script(
        "return getComputedStyle(arguments[0]).getPropertyValue(arguments[1]);",
        element,
        property_name,
    )
    return value


def test_admin_and_site_render_with_their_stylesheets(
    site: Built, chromium: webdriver.Chrome, artifacts: Path, tmp_path: Path
) -> None:
    prefix = f"py{sys.version_info.major}.{sys.version_info.minor}-django{django.__version__}"
    with running_server(site.archive, site_env(site), tmp_path / "serve.log") as server:
        chromium.get(server.base + "/admin/login/")
        assert computed(chromium, "#header", "background-color") == ADMIN_HEADER
        chromium.find_element(By.ID, "id_username").send_keys("admin")
        chromium.find_element(By.ID, "id_password").send_keys(PASSWORD)
        chromium.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        WebDriverWait(chromium, 30).until(expected_conditions.url_to_be(server.base + "/admin/"))
        assert chromium.find_element(By.ID, "user-tools").text.upper().startswith("WELCOME, ADMIN.")
        assert computed(chromium, "#header", "background-color") == ADMIN_HEADER
        chromium.save_screenshot(str(artifacts / f"{prefix}-admin.png"))

        chromium.get(server.base + "/")
        assert chromium.find_element(By.TAG_NAME, "h1").text == "Notes"
        assert computed(chromium, "body", "background-color") == NOTES_PAPER
        assert computed(chromium, "h1", "color") == NOTES_HEADING
        chromium.save_screenshot(str(artifacts / f"{prefix}-home.png"))
