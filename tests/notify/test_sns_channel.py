"""The SNS channel beside Slack: short subject, MessageStructure=json, attributes, and never too big."""

from __future__ import annotations

import json

from keywatch.adapters.aws import AwsClients
from keywatch.adapters.sns import SnsPublisher
from keywatch.notify.channels import SNS_MESSAGE_BUDGET, SnsChannel, _sns_size, fit_for_sns
from keywatch.notify.text import SUBJECT_LIMIT
from slack_support import fs, make_result


def test_given_a_normal_result_when_fitted_then_nothing_is_cut() -> None:
    result = make_result("disable_key")
    body, document = fit_for_sns(result)
    assert document == result.document()
    assert "more (listed in the incident record)" not in body and "fs-0a1b2c3d4e5f60003" in body


def test_given_500_file_systems_when_published_then_it_fits_one_sns_message_and_says_what_was_left_out(
    aws: None,
) -> None:
    clients = AwsClients(home_account="123456789012")
    sns = clients.home_client("sns", "us-east-1")
    topic = sns.create_topic(Name="keywatch-test")["TopicArn"]
    queue_url = clients.home_client("sqs", "us-east-1").create_queue(QueueName="keywatch-test")["QueueUrl"]
    queue_arn = clients.home_client("sqs", "us-east-1").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    many = [fs(f"fs-{i:017x}", "a-rather-long-file-system-name-" + str(i)) for i in range(500)]
    result = make_result("disable_key", affected=many)

    note = SnsChannel(SnsPublisher(clients, topic)).send(result)

    assert note.status == "sent", note.detail
    body, document = fit_for_sns(result)
    assert _sns_size(body, document) <= SNS_MESSAGE_BUDGET
    assert document["affected_truncated"] == 500 - len(document["affected"]) > 0
    assert "more (listed in the incident record)" in body
    message = clients.home_client("sqs", "us-east-1").receive_message(
        QueueUrl=queue_url, MessageAttributeNames=["All"]
    )["Messages"][0]
    delivered = json.loads(message["Body"])  # the sqs protocol gets the JSON document
    assert delivered["affected_truncated"] == document["affected_truncated"]
    assert message["MessageAttributes"]["severity"]["StringValue"] == "high"


def test_given_any_result_when_the_subject_is_made_then_it_is_short_ascii() -> None:
    from keywatch.notify.text import subject

    long = make_result("disable_key").model_copy(update={"event_name": "X" * 300})
    assert len(subject(long)) <= SUBJECT_LIMIT and subject(long).isascii()
