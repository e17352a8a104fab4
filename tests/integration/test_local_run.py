"""The README's run command works, and every shipped config passes --check-config."""
import glob
import os
import subprocess
import tempfile
import unittest

from harness import BIN

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class LocalRunTest(unittest.TestCase):
    def test_run_local_demo(self):
        with tempfile.TemporaryDirectory() as var:
            env = dict(os.environ, RUN_ONCE="1", WXB_VAR=var)
            r = subprocess.run(["bash", "scripts/run-local.sh", BIN], cwd=ROOT, env=env,
                               capture_output=True, timeout=120)
            out = r.stdout.decode()
            self.assertEqual(r.returncode, 0, out + r.stderr.decode())
            self.assertIn('"body":"success"', out)
            self.assertIn('"schema":"wxbridge.inbound.v1"', out)
            self.assertIn("hello from wxbridge-sim", out)
            self.assertIn('"schema":"wxbridge.reply.v1"', out, "the router greeted the user")
            self.assertEqual(out.count('"schema":"wxbridge.reply.v1"'), 1)
            self.assertIn('"status":"sent"', out, "the replier sent the greeting")
            self.assertEqual(out.count('"path":"/cgi-bin/message/custom/send"'), 1,
                             "the fake WeChat API received exactly one greeting")

    def test_deploy_configs_check(self):
        env = dict(os.environ, KAFKA_BROKERS="127.0.0.1:9092", WXB_VAR="/tmp",
                   WXB_INGRESS_PORT="0", WX_TOKEN="AAAAA", WX_AES_KEY="A" * 43,
                   WX_APPID="wxba5fad812f8e6fb9", KAFKA_USERNAME="u", KAFKA_PASSWORD="p")
        configs = glob.glob(os.path.join(ROOT, "deploy", "ingress*.json"))
        self.assertTrue(configs)
        for cfg in configs:
            r = subprocess.run([os.path.join(BIN, "wxbridge-ingress"), "--config", cfg,
                                "--check-config"], env=env, capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, cfg + r.stderr.decode())

    def test_deploy_router_configs_check(self):
        env = dict(os.environ, KAFKA_BROKERS="127.0.0.1:9092", KAFKA_USERNAME="u",
                   KAFKA_PASSWORD="p")
        for cfg in glob.glob(os.path.join(ROOT, "deploy", "router.*.json")):
            if "rules" in os.path.basename(cfg):
                continue
            r = subprocess.run([os.path.join(BIN, "wxbridge-router"), "--config", cfg,
                                "--check-config"], env=env, capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, cfg + r.stderr.decode())

    def test_deploy_replier_configs_check(self):
        env = dict(os.environ, KAFKA_BROKERS="127.0.0.1:9092", WX_API_BASE="http://127.0.0.1:1",
                   WX_SECRET="s", WX_APPID="wxba5fad812f8e6fb9", KAFKA_USERNAME="u",
                   KAFKA_PASSWORD="p")
        configs = glob.glob(os.path.join(ROOT, "deploy", "replier.*.json"))
        self.assertTrue(configs)
        for cfg in configs:
            r = subprocess.run([os.path.join(BIN, "wxbridge-replier"), "--config", cfg,
                                "--check-config"], env=env, capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, cfg + r.stderr.decode())

    def test_replier_check_config_names_every_mistake(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write('{"kafka":{"bootstrap.servers":"x"},"api_base":"ftp://x","max_in_flight":0,'
                    '"apps":[{"appid":"wx 1"},{"appid":"wx2","secret":"s","token_mode":"x"}],'
                    '"typo":1}')
        try:
            r = subprocess.run([os.path.join(BIN, "wxbridge-replier"), "--config", f.name,
                                "--check-config"], capture_output=True, timeout=30)
        finally:
            os.unlink(f.name)
        err = r.stderr.decode()
        self.assertNotEqual(r.returncode, 0)
        for needle in ['$: unknown key "typo"', "$.api_base: must be an http", "max_in_flight",
                       '$.apps[0]: "appid" must be', "$.apps[0]", "secret",
                       '$.apps[1]: "token_mode" must be']:
            self.assertIn(needle, err)

    def test_check_config_names_every_mistake(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write('{"kafka":{"bootstrap.servers":"x","no.such.prop":1},"listen":5,'
                    '"apps":[{"appid":"wx1","token":"t","aes_key":"short"}],"typo":1}')
        try:
            r = subprocess.run([os.path.join(BIN, "wxbridge-ingress"), "--config", f.name,
                                "--check-config"], capture_output=True, timeout=30)
        finally:
            os.unlink(f.name)
        err = r.stderr.decode()
        self.assertNotEqual(r.returncode, 0)
        for needle in ['$: unknown key "typo"', '$: "listen" must be a string',
                       "$.kafka.no.such.prop", '$.apps[0]: "token" must be 3 to 32',
                       '$.apps[0]: "aes_key" must be 43']:
            self.assertIn(needle, err)


if __name__ == "__main__":
    unittest.main()
