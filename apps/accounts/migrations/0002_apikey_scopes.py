from django.db import migrations, models


def existing_keys_keep_their_power(apps, schema_editor):
    # Before scopes, every key could do everything: keep it so until an operator narrows it.
    apps.get_model("accounts", "ApiKey").objects.update(scopes=["admin"])


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="apikey",
            name="topic_patterns",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="apikey",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(existing_keys_keep_their_power, migrations.RunPython.noop),
    ]
