from django.urls import path

from identity import views

app_name = "identity"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.login_view, name="login"),
    path("accounts/login/verify/", views.otp_verify, name="otp_verify"),
    path("accounts/mfa/setup/", views.mfa_setup, name="mfa_setup"),
    path("accounts/logout/", views.logout_view, name="logout"),
]
