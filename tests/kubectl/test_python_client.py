"""The official Python client (`kubernetes` from PyPI) against node-host's
standalone mode: list, watch with resume from a resourceVersion, and the
409 Conflict of an update from a stale read. Also raw request bodies: YAML
is accepted as Kubernetes accepts it, and malformed JSON or YAML gets a 400
Status that says where it is wrong."""

import base64
import http.client
import json
import ssl
import unittest
import urllib.parse

import yaml

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from cluster import Cluster


class PythonClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster()
        cls.api = client.CoreV1Api(config.new_client_from_config(config_file=cls.cluster.kubeconfig))
        cls.viewer = client.CoreV1Api(config.new_client_from_config(config_file=cls.cluster.kubeconfig, context="tabernetes-viewer"))

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def config_map(self, name, value="1"):
        return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"suite": "python"}), data={"value": value})

    def test_list(self):
        names = [n.metadata.name for n in self.api.list_namespace().items]
        self.assertEqual(names[:4], ["default", "kube-node-lease", "kube-public", "kube-system"])
        nodes = self.api.list_node().items
        self.assertEqual([n.metadata.name for n in nodes], ["laptop"])
        self.assertTrue(any(c.type == "Ready" and c.status == "True" for c in nodes[0].status.conditions))

    def test_list_in_pages(self):
        for i in range(5):
            self.api.create_namespaced_config_map("default", self.config_map(f"page-{i}"))
        first = self.api.list_namespaced_config_map("default", label_selector="suite=python", limit=2)
        self.assertEqual(len(first.items), 2)
        self.assertTrue(first.metadata._continue)
        seen = [c.metadata.name for c in first.items]
        token = first.metadata._continue
        while token:
            page = self.api.list_namespaced_config_map("default", label_selector="suite=python", limit=2, _continue=token)
            seen += [c.metadata.name for c in page.items]
            token = page.metadata._continue
        self.assertEqual(sorted(n for n in seen if n.startswith("page-")), [f"page-{i}" for i in range(5)])

    def test_watch_resumes_from_a_resource_version(self):
        self.api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="watch-resume")))
        start = self.api.list_namespaced_config_map("watch-resume").metadata.resource_version
        self.api.create_namespaced_config_map("watch-resume", self.config_map("a"))
        w = watch.Watch()
        events = []
        for event in w.stream(self.api.list_namespaced_config_map, "watch-resume", resource_version=start, timeout_seconds=5):
            events.append((event["type"], event["object"].metadata.name))
            last = event["object"].metadata.resource_version
            w.stop()
        self.assertEqual(events, [("ADDED", "a")])
        self.api.create_namespaced_config_map("watch-resume", self.config_map("b"))
        self.api.delete_namespaced_config_map("a", "watch-resume")
        resumed = []
        for event in w.stream(self.api.list_namespaced_config_map, "watch-resume", resource_version=last, timeout_seconds=5):
            resumed.append((event["type"], event["object"].metadata.name))
            if len(resumed) == 2:
                w.stop()
        self.assertEqual(resumed, [("ADDED", "b"), ("DELETED", "a")], "nothing missed, nothing repeated")

    def test_stale_update_is_a_409_conflict(self):
        self.api.create_namespaced_config_map("default", self.config_map("contended"))
        first = self.api.read_namespaced_config_map("contended", "default")
        second = self.api.read_namespaced_config_map("contended", "default")
        first.data = {"value": "first"}
        self.api.replace_namespaced_config_map("contended", "default", first)
        second.data = {"value": "second"}
        with self.assertRaises(ApiException) as raised:
            self.api.replace_namespaced_config_map("contended", "default", second)
        self.assertEqual(raised.exception.status, 409)
        self.assertIn("the object has been modified", raised.exception.body)
        self.assertEqual(self.api.read_namespaced_config_map("contended", "default").data, {"value": "first"})

    def test_viewer_reads_but_may_not_write(self):
        self.assertTrue(self.viewer.list_namespaced_pod("default") is not None)
        with self.assertRaises(ApiException) as raised:
            self.viewer.create_namespaced_config_map("default", self.config_map("viewer-write"))
        self.assertEqual(raised.exception.status, 403)

    def raw_post(self, path, body, content_type):
        """POSTs bytes as they are, as the admin; returns (status, decoded JSON)."""
        with open(self.cluster.kubeconfig) as f:
            kubeconfig = yaml.safe_load(f)
        cluster = kubeconfig["clusters"][0]["cluster"]
        admin = next(u["user"] for u in kubeconfig["users"] if u["name"] == "admin")
        context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        url = urllib.parse.urlparse(cluster["server"])
        connection = http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=30)
        try:
            connection.request("POST", path, body=body.encode(), headers={"Authorization": f"Bearer {admin['token']}", "Content-Type": content_type})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def test_yaml_bodies_are_accepted_and_malformed_ones_get_a_400_status(self):
        path = "/api/v1/namespaces/default/configmaps"
        status, created = self.raw_post(path, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n", "application/yaml")
        self.assertEqual((status, created["data"]), (201, {"a": "b"}))
        status, refused = self.raw_post(path, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n", "application/yaml")
        self.assertEqual((status, refused["kind"], refused["reason"]), (400, "Status", "BadRequest"))
        self.assertRegex(refused["message"], r"not valid YAML.*line \d+")
        status, refused = self.raw_post(path, '{"apiVersion": "v1", "kind": ', "application/json")
        self.assertEqual((status, refused["reason"]), (400, "BadRequest"))
        self.assertIn("not valid JSON", refused["message"])
        with self.assertRaises(ApiException) as raised:
            self.api.read_namespaced_config_map("oops", "default")
        self.assertEqual(raised.exception.status, 404)


if __name__ == "__main__":
    unittest.main()
