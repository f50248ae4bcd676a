from django.apps import AppConfig


class VframeSearchConfig(AppConfig):
    name = "vframe_search"
    verbose_name = "VFRAME Search"

    def ready(self) -> None:
        from django.contrib import admin

        from .web.login import AdminLoginForm

        # The admin's sign-in counts failures and locks out like the pages' one.
        admin.site.login_form = AdminLoginForm
        # Every admin record links to its page ("View on site").
        from .admin_links import link_admin_to_pages

        link_admin_to_pages()
