from django.shortcuts import render


def home(request):
    from reports import label  # imported lazily: nothing imports it while Django sets up

    return render(request, "home.html", {"where": label()})
