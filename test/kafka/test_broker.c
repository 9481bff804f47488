/*
 * test_broker: a Kafka cluster for tests, on librdkafka's mock cluster.
 *
 * No Kafka broker package exists on the test machines. librdkafka's mock
 * cluster speaks the Kafka protocol over TCP on loopback, so clients (the
 * extension, kcat) talk to it exactly as to a real broker.
 *
 *   test_broker [BROKERS=1]
 *
 * prints "bootstrap <host:port,...>" on stdout once listening, then reads
 * commands, one per line, on stdin, answering "ok" or "error ...":
 *
 *   create TOPIC PARTITIONS      create a topic
 *   down BROKER_ID               the broker refuses connections (an outage)
 *   up BROKER_ID                 it accepts them again
 *   quit                         stop (end of input too)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

int
main(int argc, char **argv)
{
	int			nbrokers = argc > 1 ? atoi(argv[1]) : 1;
	char		errstr[512];
	char		line[1024];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;

	if (nbrokers < 1)
	{
		fprintf(stderr, "usage: test_broker [BROKERS]\n");
		return 2;
	}
	/* the mock cluster needs an rd_kafka_t for its bookkeeping */
	rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk)
	{
		fprintf(stderr, "test_broker: %s\n", errstr);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, nbrokers);
	if (!mc)
	{
		fprintf(stderr, "test_broker: could not create the mock cluster\n");
		return 1;
	}
	printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	while (fgets(line, sizeof(line), stdin))
	{
		char		topic[512];
		int			n;
		rd_kafka_resp_err_t err;

		if (sscanf(line, "create %511s %d", topic, &n) == 2)
			err = rd_kafka_mock_topic_create(mc, topic, n, 1);
		else if (sscanf(line, "down %d", &n) == 1)
			err = rd_kafka_mock_broker_set_down(mc, n);
		else if (sscanf(line, "up %d", &n) == 1)
			err = rd_kafka_mock_broker_set_up(mc, n);
		else if (strncmp(line, "quit", 4) == 0)
			break;
		else
		{
			printf("error unknown command\n");
			fflush(stdout);
			continue;
		}
		if (err)
			printf("error %s\n", rd_kafka_err2str(err));
		else
			printf("ok\n");
		fflush(stdout);
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
